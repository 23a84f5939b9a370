package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/postgres/pgtest"
)

// TestClusterProcesses runs chatbus as it is deployed on a cluster: a
// three-broker embedded Kafka cluster, two backends sharing one PostgreSQL
// database and two frontends, each its own OS process. Users of both
// frontends sign up, log in, add friends, share rooms, set their status,
// read history and mark rooms read, each on its own frontend, while senders
// post chats (each resent with its clientMsgId until acknowledged). Mid-load
// one backend is killed with SIGKILL and not restarted: the other must take
// over its partitions once its session times out. Then one frontend is
// killed: its users log in on the other one and resume their event streams
// there from the last id they saw. Afterwards every acknowledged chat is
// stored once, seqs have no gaps, every member was sent every message of its
// room exactly once without a resync, and read positions and unread counts
// add up. It runs on the embedded broker (three brokers in one process,
// replication metadata only) and on Apache Kafka (three brokers).
func TestClusterProcesses(t *testing.T) { onEachKafka(t, 3, testClusterProcesses) }

func testClusterProcesses(t *testing.T, k *kafka) {
	// The database first: its schema is dropped after the processes using
	// it are killed (cleanups run last-in first-out), and without a server
	// the test skips (fails in CI) before starting anything.
	db := pgtest.URL(t)
	const (
		users    = 16 // every one a sender
		roomSize = 4  // two members on each frontend
	)
	chats := 2400
	if testing.Short() {
		chats = 800
	}
	start := time.Now()
	// A bound on the whole run, so that a hang fails with the figures
	// rather than at go test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var sent, subs sync.WaitGroup
	defer func() { cancel(); sent.Wait(); subs.Wait() }()

	dir := t.TempDir()
	env := append([]string{"CHATBUS_LOG_LEVEL=info"}, k.env...) // kgo's debug lines would be most of the work
	brokers := k.brokers                                        // every broker's address, comma separated
	if n := len(strings.Split(brokers, ",")); n != 3 {
		t.Fatalf("the broker logged %d addresses (%s), want 3", n, brokers)
	}
	// No --replication: against three brokers the default is three.
	backs := make([]*proc, 2)
	for i := range backs {
		backs[i] = startCmd(t, env, []string{"backend serving"}, "backend", "--brokers", brokers,
			"--db", db, "--instance-id", fmt.Sprintf("backend-%d", i+1), "--data-dir", dir)
	}
	adm := clusterAdmin(t, brokers)
	checkReplication(t, adm, k.topics)

	// Fixed ports, so that a user moved to the other frontend knows where.
	fronts := make([]*proc, 2)
	urls := make([]string, 2)
	for i := range fronts {
		addr := freeAddr(t)
		fronts[i] = startCmd(t, env, []string{"web gateway listening"}, "frontend", "--brokers", brokers,
			"--http-addr", addr, "--limits-exempt", "127.0.0.1/32")
		urls[i] = "http://" + addr
	}
	procs := k.procs(backs[0], backs[1], fronts[0], fronts[1]) // for the logs

	// Both backends share the work before the kill.
	waitGroup(t, ctx, adm, k.group, func(g kafkabus.GroupLag) bool { return g.Members == 2 && len(holders(g)) == 2 })

	// The journey: u0…u15, even ones on frontend 0, odd ones on frontend
	// 1; rooms of four consecutive users, so two of each frontend, opened
	// by their first member after adding the others as friends.
	tr := &http.Transport{MaxIdleConnsPerHost: 4 * users}
	defer tr.CloseIdleConnections()
	us := make([]*chatter, users)
	for i := range us {
		us[i] = newChatter(t, tr, urls[i%2], fmt.Sprintf("u%d", i))
	}
	members := chatRooms(ctx, t, us, roomSize, func(u *chatter) {
		u.must(ctx, "PUT", "/api/me/status", map[string]any{"userStatus": "status of " + u.id}, 200)
	})
	// Statuses set on both frontends, read on one.
	for _, group := range members {
		var fl struct {
			Friends []struct{ UserID, UserStatus string }
		}
		json.Unmarshal(group[0].must(ctx, "GET", "/api/friends", nil, 200), &fl)
		if len(fl.Friends) != len(group)-1 {
			t.Errorf("%s's friends: %+v, want the %d others of its room", group[0].id, fl.Friends, len(group)-1)
		}
		for _, f := range fl.Friends {
			if f.UserStatus != "status of "+f.UserID {
				t.Errorf("%s's friend %s has status %q", group[0].id, f.UserID, f.UserStatus)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every member's event stream, open before the first chat.
	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	openStreams(ctx, subCtx, t, us, &subs)

	// The senders: each its share, one chat at a time, every one resent
	// until acknowledged; now and then a sender reads the newest page of
	// its room and marks it read up to its own chat, as a client does.
	var (
		ackMu  sync.Mutex
		acked  = map[string]int64{} // clientMsgId → seq
		nAcked atomic.Int64
	)
	for i, u := range us {
		sent.Go(func() {
			for n := i; n < chats; n += users {
				id := fmt.Sprintf("%s-%d", u.id, n)
				seq, ok := u.post(ctx, u.room, id)
				if !ok {
					return
				}
				ackMu.Lock()
				acked[id] = seq
				ackMu.Unlock()
				nAcked.Add(1)
				if n/users%25 == 24 {
					u.midRead(ctx, seq)
				}
			}
		})
	}

	// The faults. The frontend first: while half the senders wait for the
	// dead backend's partitions the others run ahead, so a frontend killed
	// after it would meet little load.
	kills := 0
	until := func(n int64) {
		for nAcked.Load() < n && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Chats flow again once every sender could have had one answered (or
	// all are: the others may have run ahead while some waited).
	flowing := func() {
		until(min(nAcked.Load()+users, int64(chats)))
		t.Logf("%v: chats flow again", time.Since(start).Round(time.Millisecond))
	}
	until(int64(chats / 4))
	t.Logf("%v: SIGKILL frontend 1 at %d acknowledged", time.Since(start).Round(time.Millisecond), nAcked.Load())
	fronts[1].stop(t, syscall.SIGKILL)
	kills++
	// Its users go to frontend 0, as a load balancer would send them: they
	// log in there (the session died with the frontend) and resume.
	var moved []*chatter
	for i, u := range us {
		if i%2 == 1 {
			u.moveTo(urls[0])
			moved = append(moved, u)
		}
	}
	flowing()

	// The backend stays dead: the survivor must take its partitions over
	// (static membership: after the 10 s session timeout). The one killed
	// serves chats, so that the chats wait for the takeover: which one that
	// is depends on the group's assignment.
	until(int64(chats / 2))
	victim, survivor, chatParts := chatBackend(t, ctx, adm, k)
	t.Logf("%v: SIGKILL %s (it serves %d of the chat partitions) at %d acknowledged",
		time.Since(start).Round(time.Millisecond), victim, chatParts, nAcked.Load())
	backs[map[string]int{"backend-1": 0, "backend-2": 1}[victim]].stop(t, syscall.SIGKILL)
	kills++
	killed := time.Now()
	waitGroup(t, ctx, adm, k.group, func(g kafkabus.GroupLag) bool {
		h := holders(g)
		return g.Members == 1 && len(h) == 1 && h[survivor]
	})
	takeover := time.Since(killed)
	t.Logf("%v: %s holds every partition, %v after the kill", time.Since(start).Round(time.Millisecond), survivor, takeover.Round(time.Millisecond))
	flowing()
	sent.Wait()
	sendTime := time.Since(start)

	// The histories, read through the API (so from PostgreSQL): every
	// acknowledged chat once, at the seq it was acknowledged with, seqs 1…n.
	ackMu.Lock()
	history, stored := checkHistories(ctx, t, members, func(g []*chatter) *chatter { return g[len(g)-1] }, acked, chats)
	nAck := len(acked)
	ackMu.Unlock()

	// The deliveries: every member has every message of its room.
	awaitDeliveries(us, history)

	// Read receipts: each member's unread count is what its position says,
	// then each reads its room to the end; every member hears of every
	// other's position, whichever frontend either is on: by a read event,
	// or for the writer of the last message by that message (a read that
	// moves nothing sends no event).
	for _, u := range us {
		u.finalRead(ctx, int64(len(history[u.room])))
	}
	wrote := map[readKey]int64{} // the last seq each member wrote
	for room, msgs := range history {
		for _, m := range msgs {
			wrote[readKey{room, m.WriterID}] = m.Seq
		}
	}
	unheard := func() []string {
		var missing []string
		for _, u := range us {
			last := int64(len(history[u.room]))
			u.mu.Lock()
			for _, m := range members[u.room] {
				k := readKey{u.room, m.id}
				if pos := max(u.reads[k], wrote[k]); pos < last {
					missing = append(missing, fmt.Sprintf("%s of %s at %d", u.id, m.id, pos))
				}
			}
			u.mu.Unlock()
		}
		return missing
	}
	for deadline := time.Now().Add(15 * time.Second); len(unheard()) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if missing := unheard(); len(missing) > 0 {
		t.Errorf("members did not hear of reads to the end of their room (%d of %d): %s",
			len(missing), users*roomSize, strings.Join(missing, ", "))
	}
	for room, group := range members {
		var page struct{ Messages []faultMsg }
		json.Unmarshal(group[0].must(ctx, "GET", fmt.Sprintf("/api/rooms/%d/messages?limit=1", room), nil, 200), &page)
		if len(page.Messages) != 1 || page.Messages[0].Unread != 0 {
			t.Errorf("room %d: the last message after everyone read it: %+v", room, page.Messages)
		}
	}
	time.Sleep(time.Second) // a moment more for any late copy
	stopSubs()
	subs.Wait()

	f := tally(t, us, history)
	expected, received, dups, lost, resyncs, resumes, logins, retries := f.expected, f.received, f.dups, f.lost, f.resyncs, f.resumes, f.logins, f.retries
	// The cross-frontend resume: every moved user's stream resumed on the
	// frontend it moved to.
	crossResumes := 0
	for _, u := range moved {
		u.mu.Lock()
		n := u.resumedOn[urls[0]]
		u.mu.Unlock()
		crossResumes += min(n, 1)
		if n == 0 {
			t.Errorf("%s's stream did not resume on the other frontend", u.id)
		}
	}
	if resyncs > 0 {
		t.Errorf("%d streams could not resume (resync)", resyncs)
	}
	published, copies := messageEvents(t, k)
	figures(t, "%d brokers, 2 backends, 2 frontends, %d senders, %d kills (%s taken over in %v): %d chats acknowledged (%d calls retried), %d stored, %d message events published (%d copies); deliveries %d expected, %d received, %d duplicates, %d lost; %d streams resumed (%d of %d moved users on the other frontend), %d resyncs; %d logins; sending took %v, all %v",
		len(strings.Split(brokers, ",")), users, kills, victim, takeover.Round(time.Millisecond), nAck, retries, stored, published, copies,
		expected, received, dups, lost, resumes, crossResumes, len(moved), resyncs, logins,
		sendTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		for _, p := range procs {
			t.Logf("the log of chatbus %s (pid %d):\n%s", p.args[0], p.cmd.Process.Pid, p.logs())
		}
	}
}

// midRead reads the newest page of the user's room and marks it read up to
// its own chat seq, during the load: the read may not move its position
// backwards, nor report more unread than the room can have.
func (u *chatter) midRead(ctx context.Context, seq int64) {
	var page struct{ Messages []faultMsg }
	if out := u.must(ctx, "GET", fmt.Sprintf("/api/rooms/%d/messages?limit=20", u.room), nil, 200); out != nil {
		json.Unmarshal(out, &page)
		if n := len(page.Messages); n == 0 || page.Messages[n-1].Seq < seq {
			u.t.Errorf("%s: the newest page of room %d ends before its own chat %d: %+v", u.id, u.room, seq, page.Messages)
		}
	}
	var r struct{ ReadSeq, Unread int64 }
	if out := u.must(ctx, "POST", fmt.Sprintf("/api/rooms/%d/read", u.room), map[string]any{"seq": seq}, 200); out != nil {
		json.Unmarshal(out, &r)
		// Posting moved the position to the chat already.
		if r.ReadSeq < seq || r.Unread < 0 {
			u.t.Errorf("%s: read up to %d answered %s", u.id, seq, out)
		}
	}
}

// finalRead checks the user's unread count against its read position once
// the room has last messages, then reads to the end.
func (u *chatter) finalRead(ctx context.Context, last int64) {
	var list struct {
		Rooms []struct {
			RoomID, LastSeq, Unread int64
			Members                 []struct {
				UserID  string
				ReadSeq int64
			}
		}
	}
	json.Unmarshal(u.must(ctx, "GET", "/api/rooms", nil, 200), &list)
	found := false
	for _, r := range list.Rooms {
		if r.RoomID != u.room {
			continue
		}
		found = true
		var mine int64 = -1
		for _, m := range r.Members {
			if m.UserID == u.id {
				mine = m.ReadSeq
			}
		}
		if r.LastSeq != last || mine < 1 || mine > last || r.Unread != last-mine {
			u.t.Errorf("%s: room %d lists lastSeq %d, unread %d, own readSeq %d; want lastSeq %d and unread = lastSeq - readSeq",
				u.id, u.room, r.LastSeq, r.Unread, mine, last)
		}
	}
	if !found {
		u.t.Errorf("%s: room %d is not in its list %+v", u.id, u.room, list.Rooms)
	}
	var r struct {
		RoomID  int64
		UserID  string
		ReadSeq int64
		Unread  int64
	}
	json.Unmarshal(u.must(ctx, "POST", fmt.Sprintf("/api/rooms/%d/read", u.room), map[string]any{"seq": last + 100}, 200), &r)
	if r.RoomID != u.room || r.UserID != u.id || r.ReadSeq != last || r.Unread != 0 {
		u.t.Errorf("%s: reading room %d to the end answered %+v, want readSeq %d, unread 0", u.id, u.room, r, last)
	}
}

// clusterAdmin is an admin client of the cluster at brokers (a comma
// separated list).
func clusterAdmin(t *testing.T, brokers string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// checkReplication fails unless every chatbus topic exists, as the backends
// create it, with topics.Replication replicas in every partition (and, from
// three, min.insync.replicas 2). It waits up to 10 s: on Apache Kafka a
// topic just created reaches every broker's metadata a moment later.
func checkReplication(t *testing.T, adm *kadm.Client, topics kafkabus.Topics) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rf := topics.Replication
	var wrong []string
	var n int
	for {
		states, err := kafkabus.DescribeTopics(ctx, adm, topics.Specs())
		wrong, n = nil, len(states)
		if err != nil {
			wrong = append(wrong, err.Error())
		}
		for _, s := range states {
			if !s.OK() || s.Replicas != rf {
				wrong = append(wrong, fmt.Sprintf("topic %s: %d replicas, %v", s.Name, s.Replicas, s.Problems))
			}
			if want := fmt.Sprint(kafkabus.MinInSync(rf)); rf >= 3 && s.Configs["min.insync.replicas"] != want {
				wrong = append(wrong, fmt.Sprintf("topic %s: min.insync.replicas %q, want %s", s.Name, s.Configs["min.insync.replicas"], want))
			}
		}
		if len(wrong) == 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, w := range wrong {
		t.Error(w)
	}
	t.Logf("%d topics, each partition with %d replicas", n, rf)
}

// holders returns the instance ids of the members that hold a partition of
// the group.
func holders(g kafkabus.GroupLag) map[string]bool {
	h := map[string]bool{}
	for _, p := range g.Partitions {
		if p.Member != "" {
			id, _, _ := strings.Cut(p.Member, "@")
			h[id] = true
		}
	}
	return h
}

// chatBackend returns the backend that holds a partition of the chat
// requests, the other one, and how many such partitions the first holds.
func chatBackend(t *testing.T, ctx context.Context, adm *kadm.Client, k *kafka) (victim, survivor string, n int) {
	t.Helper()
	lags, err := kafkabus.GroupLags(ctx, adm, k.group)
	if err != nil || len(lags) != 1 {
		t.Fatalf("the backends' group: %+v, %v", lags, err)
	}
	topic := k.topics.Request(kafkabus.OpAddChat)
	for _, p := range lags[0].Partitions {
		if id, _, _ := strings.Cut(p.Member, "@"); p.Topic == topic && id != "" {
			if victim == "" {
				victim = id
			}
			if id == victim {
				n++
			}
		}
	}
	survivor = map[string]string{"backend-1": "backend-2", "backend-2": "backend-1"}[victim]
	if survivor == "" {
		t.Fatalf("no backend holds %s: %+v", topic, lags[0])
	}
	return victim, survivor, n
}

// waitGroup waits until the backends' group is as ok wants, or fails.
func waitGroup(t *testing.T, ctx context.Context, adm *kadm.Client, group string, ok func(kafkabus.GroupLag) bool) {
	t.Helper()
	var last kafkabus.GroupLag
	for ctx.Err() == nil {
		lags, err := kafkabus.GroupLags(ctx, adm, group)
		if err == nil && len(lags) == 1 {
			last = lags[0]
			if ok(last) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the backends' group did not become as wanted: %+v", last)
}
