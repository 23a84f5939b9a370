package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
)

// TestFaultSIGKILL is the live chat's fault test: while 20 senders send
// 5,000 chats, the frontend and the backend (separate processes on one
// broker) are killed with SIGKILL several times and restarted. Senders
// resend a chat with its clientMsgId until it is acknowledged; every member
// keeps an event stream open and resumes it from its last id. Afterwards
// every acknowledged chat is in its room's history exactly once, seqs have
// no gaps, and every member was sent every message of its room exactly once,
// with no resync. It runs on the embedded broker and on Apache Kafka.
func TestFaultSIGKILL(t *testing.T) { onEachKafka(t, 1, testFaultSIGKILL) }

func testFaultSIGKILL(t *testing.T, k *kafka) {
	senders, chats := 20, 5000
	if testing.Short() {
		chats = 1000
	} else if k.cluster != nil {
		// Its processes' faults are the same on Apache Kafka, where
		// chats take longer (TestBrokerFault has 5,000 there).
		chats = 2000
	}
	const roomSize = 5
	start := time.Now()
	// A bound on the whole run, so that a hang fails with the figures
	// rather than at go test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	var sent, subs sync.WaitGroup
	// Should the test end early, its goroutines end before it does.
	defer func() { cancel(); sent.Wait(); subs.Wait() }()

	dir := t.TempDir()
	// Kafka clients' debug lines would be most of the work of logging.
	env := append([]string{"CHATBUS_LOG_LEVEL=info"}, k.env...)
	brokers := k.brokers
	back := startCmd(t, env, []string{"backend serving"}, "backend", "--brokers", brokers, "--data-dir", dir, "--instance-id", "fault-backend")
	// One port for every run of the frontend: clients reconnect to the
	// same URL, as browsers would to a restarted server.
	addr := freeAddr(t)
	front := startCmd(t, env, []string{"web gateway listening"}, "frontend", "--brokers", brokers,
		"--http-addr", addr, "--limits-exempt", "127.0.0.1/32")
	url := "http://" + addr

	// Users s0…s19 in rooms of five, opened by their first member.
	tr := &http.Transport{MaxIdleConnsPerHost: 4 * senders}
	defer tr.CloseIdleConnections()
	users := make([]*chatter, senders)
	for i := range users {
		users[i] = newChatter(t, tr, url, fmt.Sprintf("s%d", i))
	}
	members := chatRooms(ctx, t, users, roomSize)

	// Every member's event stream, open before the first chat.
	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	openStreams(ctx, subCtx, t, users, &subs)

	// The senders: each its share of the chats, one at a time, every one
	// resent until acknowledged.
	a := sendChats(ctx, users, chats, &sent)
	ackMu, acked, nAcked := &a.mu, a.ids, &a.n

	// The faults, spread over the run so that chats flow between them.
	kills := 0
	procs := k.procs(back, front) // every run, for the logs
	plan := []string{"frontend", "backend", "both", "frontend"}
	for i, what := range plan {
		for nAcked.Load() < int64((i+1)*chats/(len(plan)+1)) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		if ctx.Err() != nil {
			break
		}
		t.Logf("%v: SIGKILL %s at %d acknowledged", time.Since(start).Round(time.Millisecond), what, nAcked.Load())
		if what != "backend" {
			front.stop(t, syscall.SIGKILL)
			kills++
		}
		if what != "frontend" {
			back.stop(t, syscall.SIGKILL)
			kills++
		}
		if what != "frontend" {
			back = back.restart(t)
			procs = append(procs, back)
		}
		if what != "backend" {
			front = front.restart(t)
			procs = append(procs, front)
		}
		// Chats flow again once every sender could have had one answered.
		for n := nAcked.Load(); nAcked.Load() < n+int64(senders) && ctx.Err() == nil; {
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%v: chats flow again", time.Since(start).Round(time.Millisecond))
	}
	sent.Wait()
	sendTime := time.Since(start)

	// The histories: every acknowledged chat once, at the seq it was
	// acknowledged with, seqs 1…n.
	ackMu.Lock()
	history, stored := checkHistories(ctx, t, members, func(g []*chatter) *chatter { return g[0] }, acked, chats)
	nAck := len(acked)
	ackMu.Unlock()

	// The deliveries: wait until every member has every message of its
	// room, then a moment more for any late copy.
	awaitDeliveries(users, history)
	time.Sleep(time.Second)
	stopSubs()
	subs.Wait()

	f := tally(t, users, history)
	expected, received, dups, lost, resyncs, resumes, logins, retries := f.expected, f.received, f.dups, f.lost, f.resyncs, f.resumes, f.logins, f.retries
	if resyncs > 0 {
		t.Errorf("%d streams could not resume (resync)", resyncs)
	}
	published, copies := messageEvents(t, k)
	figures(t, "%d senders, %d kills: %d chats acknowledged (%d calls retried), %d stored, %d message events published (%d copies); deliveries %d expected, %d received, %d duplicates, %d lost; %d streams resumed, %d resyncs; %d logins; sending took %v, all %v",
		senders, kills, nAck, retries, stored, published, copies, expected, received, dups, lost, resumes, resyncs, logins,
		sendTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		for _, p := range procs {
			t.Logf("the log of chatbus %s (pid %d):\n%s", p.args[0], p.cmd.Process.Pid, p.logs())
		}
	}
}

// chatRooms signs up and logs in every user (all at once), and runs each
// setUp on them, then puts them in rooms of size, in order: the first
// member of each adds the others as friends and opens the room. It returns
// the rooms' members, by room.
func chatRooms(ctx context.Context, t *testing.T, users []*chatter, size int, setUp ...func(*chatter)) map[int64][]*chatter {
	t.Helper()
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			u.signUp(ctx)
			u.login(ctx)
			for _, f := range setUp {
				f(u)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	members := map[int64][]*chatter{}
	for first := 0; first < len(users); first += size {
		group := users[first:min(first+size, len(users))]
		var ids []string
		for _, u := range group[1:] {
			ids = append(ids, u.id)
		}
		group[0].must(ctx, "POST", "/api/friends", map[string]any{"friendIds": ids}, 200)
		out := group[0].must(ctx, "POST", "/api/rooms", map[string]any{"memberIds": ids, "name": fmt.Sprintf("room of %s", group[0].id)}, 201)
		var room struct {
			Room struct{ RoomID int64 }
		}
		json.Unmarshal(out, &room)
		for _, u := range group {
			u.room = room.Room.RoomID
		}
		members[room.Room.RoomID] = group
	}
	return members
}

// openStreams opens every user's event stream (until subCtx ends, in subs)
// and returns once all are open.
func openStreams(ctx, subCtx context.Context, t *testing.T, users []*chatter, subs *sync.WaitGroup) {
	t.Helper()
	for _, u := range users {
		ready := make(chan struct{})
		subs.Go(func() { u.subscribe(subCtx, ready) })
		select {
		case <-ready:
		case <-ctx.Done():
			t.Fatalf("%s's event stream did not open", u.id)
		}
	}
}

// acks are the chats acknowledged so far.
type acks struct {
	mu  sync.Mutex
	ids map[string]int64 // clientMsgId → seq, under mu
	n   atomic.Int64
	// last is when the latest chat was acknowledged (Unix ns); longest the
	// longest time between two acknowledgements, of any senders.
	last, longest atomic.Int64
}

// sendChats starts one sender per user (in sent): chats 0…n-1 shared out
// in turn, each sent until acknowledged, one at a time, to its room.
func sendChats(ctx context.Context, users []*chatter, n int, sent *sync.WaitGroup) *acks {
	a := &acks{ids: map[string]int64{}}
	a.last.Store(time.Now().UnixNano())
	for i, u := range users {
		sent.Go(func() {
			for c := i; c < n; c += len(users) {
				id := fmt.Sprintf("%s-%d", u.id, c)
				seq, ok := u.post(ctx, u.room, id)
				if !ok {
					return
				}
				a.mu.Lock()
				a.ids[id] = seq
				now := time.Now().UnixNano()
				a.longest.Store(max(a.longest.Load(), now-a.last.Swap(now)))
				a.mu.Unlock()
				a.n.Add(1)
			}
		})
	}
	return a
}

// checkHistories reads each room's history (as the member reader picks)
// and checks it: seqs 1…n, each chat stored once as its sender wrote it,
// and every acknowledged chat (clientMsgId → seq) at the seq it was
// acknowledged with. It returns the histories and how many chats they hold.
func checkHistories(ctx context.Context, t *testing.T, members map[int64][]*chatter, reader func([]*chatter) *chatter,
	acked map[string]int64, chats int) (map[int64][]faultMsg, int) {
	t.Helper()
	history := map[int64][]faultMsg{}
	stored := 0
	for room, group := range members {
		history[room] = reader(group).history(ctx, room)
		stored += len(history[room])
	}
	seen, seqOf := map[string]int{}, map[string]int64{}
	for room, msgs := range history {
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Errorf("room %d: message %d has seq %d", room, i+1, m.Seq)
			}
			if seen[m.ClientMsgID]++; seen[m.ClientMsgID] == 2 {
				t.Errorf("room %d: chat %s is stored twice (seq %d)", room, m.ClientMsgID, m.Seq)
			}
			seqOf[m.ClientMsgID] = m.Seq
			if w, _, _ := strings.Cut(m.ClientMsgID, "-"); m.WriterID != w || m.Message != "chat "+m.ClientMsgID {
				t.Errorf("room %d seq %d: %s wrote %q as %s", room, m.Seq, m.WriterID, m.Message, m.ClientMsgID)
			}
		}
	}
	for id, seq := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged chat %s (seq %d) is stored %d times", id, seq, seen[id])
		} else if seqOf[id] != seq {
			t.Errorf("chat %s was acknowledged as seq %d and is stored as seq %d", id, seq, seqOf[id])
		}
	}
	if len(acked) != chats || stored != chats {
		t.Errorf("%d chats acknowledged and %d stored, want %d", len(acked), stored, chats)
	}
	return history, stored
}

// awaitDeliveries waits, up to 30 s, until every member has been sent every
// message of its room.
func awaitDeliveries(users []*chatter, history map[int64][]faultMsg) {
	complete := func() bool {
		for _, u := range users {
			if !u.has(history[u.room]) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(30 * time.Second); !complete() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
}

// figures logs a fault test's figures, and appends them to the file
// CHATBUS_FIGURES names: go test shows a passing test's log only with -v,
// and CI prints that file after the run.
func figures(t *testing.T, format string, args ...any) {
	t.Helper()
	line := t.Name() + ": " + fmt.Sprintf(format, args...)
	t.Log(line)
	if path := os.Getenv("CHATBUS_FIGURES"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("figures: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
}

// deliveries are the figures of what the members' streams were sent.
type deliveries struct {
	expected, received, dups, lost, resyncs, resumes, logins, retries int
}

// tally checks that every member was sent every message of its room (as
// history holds them) exactly once and in order, failing t for each that was
// not, and sums the figures.
func tally(t *testing.T, users []*chatter, history map[int64][]faultMsg) deliveries {
	t.Helper()
	var f deliveries
	for _, u := range users {
		u.mu.Lock()
		msgs := history[u.room]
		f.expected += len(msgs)
		for key, n := range u.got {
			f.received += n
			if key.room != u.room {
				t.Errorf("%s was sent a message of room %d, not its own", u.id, key.room)
			}
		}
		var uLost, uDups []int64
		for _, m := range msgs {
			key := msgKey{m.RoomID, m.Seq}
			switch n := u.got[key]; {
			case n == 0:
				uLost = append(uLost, m.Seq)
			case n > 1:
				uDups = append(uDups, m.Seq)
				f.dups += n - 1
			}
			if c, ok := u.ids[key]; ok && c != m.ClientMsgID {
				t.Errorf("%s: room %d seq %d came as %s, stored as %s", u.id, m.RoomID, m.Seq, c, m.ClientMsgID)
			}
		}
		f.lost += len(uLost)
		if len(uLost) > 0 {
			t.Errorf("%s (room %d) was not sent seqs %s", u.id, u.room, ranges(uLost))
		}
		if len(uDups) > 0 {
			t.Errorf("%s (room %d) was sent seqs %s more than once", u.id, u.room, ranges(uDups))
		}
		if u.disorder > 0 {
			t.Errorf("%s was sent %d messages after a later one of their room", u.id, u.disorder)
		}
		f.resyncs += u.resyncs
		f.resumes += u.resumes
		f.logins += int(u.logins.Load())
		f.retries += int(u.retries.Load())
		u.mu.Unlock()
	}
	return f
}

// freeAddr returns a local address no one listens on now, its port below
// Linux's ephemeral range (32768–60999): while the frontend is down, the
// kernel does not give its port to another process's socket.
func freeAddr(t *testing.T) string {
	for range 100 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err == nil {
			ln.Close()
			return ln.Addr().String()
		}
	}
	t.Fatal("no free port")
	return ""
}

// messageEvents reads the room events topic of k and returns how many message events it holds, and how many of them are
// copies of another (the relay publishes again what a crash kept it from
// marking as published).
func messageEvents(t *testing.T, k *kafka) (records, copies int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := k.topics.RoomEvents()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(k.brokers, ",")...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	seen := map[msgKey]bool{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
			var ev struct {
				Kind   string
				RoomID int64
				Data   struct{ Seq int64 }
			}
			if json.Unmarshal(r.Value, &ev) != nil || ev.Kind != chatbus.EventMessage {
				return
			}
			records++
			key := msgKey{ev.RoomID, ev.Data.Seq}
			if seen[key] {
				copies++
			}
			seen[key] = true
		})
	}
	return records, copies
}

type msgKey struct{ room, seq int64 }

type faultMsg struct {
	RoomID      int64  `json:"roomId"`
	Seq         int64  `json:"seq"`
	WriterID    string `json:"writerId"`
	Message     string `json:"message"`
	ClientMsgID string `json:"clientMsgId"`
	Unread      int    `json:"unreadCount"`
}

// chatter is one user's browser across restarts of the frontend: it logs
// in again when its session is gone (it should not be: sessions live in
// the sessions topic), and retries what failed because a process was down. moveTo
// sends it to another frontend, as a load balancer would when its own died.
type chatter struct {
	t      *testing.T
	id     string
	room   int64                  // the room it chats in
	url    atomic.Pointer[string] // the frontend it calls
	c      *http.Client           // calls
	sc     *http.Client           // the event stream: no overall timeout
	logins atomic.Int64
	// retries counts calls sent again after no answer or a 5xx
	retries atomic.Int64

	loginMu sync.Mutex
	gen     int // the number of logins, under loginMu

	mu      sync.Mutex // what the event stream received
	got     map[msgKey]int
	ids     map[msgKey]string // the clientMsgId of each message received
	lastSeq map[int64]int64   // the highest seq received, by room
	// disorder counts messages that came after a later one of their room
	disorder int
	resyncs  int
	resumes  int
	// resumedOn counts the resumed streams by the frontend that resumed them
	resumedOn map[string]int
	// reads holds the highest readSeq of each read event received
	reads map[readKey]int64
}

type readKey struct {
	room int64
	user string
}

func newChatter(t *testing.T, tr http.RoundTripper, url, id string) *chatter {
	jar, _ := cookiejar.New(nil)
	u := &chatter{t: t, id: id,
		c:   &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second},
		sc:  &http.Client{Jar: jar, Transport: tr},
		got: map[msgKey]int{}, ids: map[msgKey]string{}, lastSeq: map[int64]int64{},
		resumedOn: map[string]int{}, reads: map[readKey]int64{}}
	u.moveTo(url)
	return u
}

// moveTo makes every later call and stream go to the frontend at url.
func (u *chatter) moveTo(url string) { u.url.Store(&url) }

func (u *chatter) base() string { return *u.url.Load() }

func (u *chatter) session() int {
	u.loginMu.Lock()
	defer u.loginMu.Unlock()
	return u.gen
}

// relogin logs in again unless someone did since the session gen failed:
// the sender and the stream of a user share the cookie.
func (u *chatter) relogin(ctx context.Context, gen int) {
	u.loginMu.Lock()
	defer u.loginMu.Unlock()
	if u.gen == gen {
		u.loginLocked(ctx)
	}
}

func (u *chatter) login(ctx context.Context) {
	u.loginMu.Lock()
	defer u.loginMu.Unlock()
	u.loginLocked(ctx)
}

func (u *chatter) loginLocked(ctx context.Context) {
	u.call(ctx, -1, "POST", "/api/login", map[string]any{"userId": u.id, "userPw": u.id + "-password"}, 200)
	u.gen++
	u.logins.Add(1)
}

// do sends one request; status 0 is a failure to get an answer.
func (u *chatter) do(ctx context.Context, method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, u.base()+path, rd)
	req.Header.Set("Content-Type", "application/json")
	res, err := u.c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil
	}
	return res.StatusCode, out
}

// must calls until the answer is want, through restarts: a failure to
// connect, a 5xx and a lost session are tried again. Any other answer is
// an error; it returns nil then, or when ctx ends (an error if its time
// ran out).
func (u *chatter) must(ctx context.Context, method, path string, body any, want int) []byte {
	return u.call(ctx, u.session(), method, path, body, want)
}

// signUp signs u up, through restarts. A sign-up answered 5xx may have
// been made all the same (its reply was late, not its write): after one,
// the id being taken (409) means it was.
func (u *chatter) signUp(ctx context.Context) {
	u.callSettled(ctx, -1, "POST", "/api/signup", map[string]any{"userId": u.id, "userPw": u.id + "-password",
		"email": u.id + "@x.io", "userName": u.id}, http.StatusCreated, http.StatusConflict)
}

func (u *chatter) call(ctx context.Context, gen int, method, path string, body any, want int) []byte {
	return u.callSettled(ctx, gen, method, path, body, want, 0)
}

// callSettled is call, where an answer settled after a retry is as good
// as want.
func (u *chatter) callSettled(ctx context.Context, gen int, method, path string, body any, want, settled int) []byte {
	for retried := false; ctx.Err() == nil; retried = true {
		status, out := u.do(ctx, method, path, body)
		switch {
		case status == want, retried && settled != 0 && status == settled:
			return out
		case status == 401 && gen >= 0:
			u.relogin(ctx, gen)
			gen = u.session()
			continue
		case status != 0 && status < 500:
			u.t.Errorf("%s: %s %s: %d %s, want %d", u.id, method, path, status, bytes.TrimSpace(out), want)
			return nil
		}
		u.retries.Add(1)
		time.Sleep(50 * time.Millisecond) // the process is down or starting
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) { // not when the test stops it
		u.t.Errorf("%s: %s %s: no answer %d in time", u.id, method, path, want)
	}
	return nil
}

// post sends a chat until it is acknowledged; the same clientMsgId makes a
// resend a no-op. It returns the chat's seq.
func (u *chatter) post(ctx context.Context, room int64, id string) (int64, bool) {
	out := u.must(ctx, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]any{"message": "chat " + id, "clientMsgId": id}, 201)
	if out == nil {
		return 0, false
	}
	var res struct{ Message faultMsg }
	if err := json.Unmarshal(out, &res); err != nil || res.Message.ClientMsgID != id || res.Message.RoomID != room || res.Message.Seq <= 0 {
		u.t.Errorf("%s: chat %s was answered %s", u.id, id, out)
		return 0, false
	}
	return res.Message.Seq, true
}

// history reads a room's messages, page by page forward.
func (u *chatter) history(ctx context.Context, room int64) []faultMsg {
	var all []faultMsg
	var after int64
	for {
		out := u.must(ctx, "GET", fmt.Sprintf("/api/rooms/%d/messages?after=%d&limit=200", room, after), nil, 200)
		var page struct{ Messages []faultMsg }
		if out == nil || json.Unmarshal(out, &page) != nil {
			u.t.Errorf("%s: history of room %d: %s", u.id, room, out)
			return all
		}
		if len(page.Messages) == 0 {
			return all
		}
		all = append(all, page.Messages...)
		after = page.Messages[len(page.Messages)-1].Seq
	}
}

// has tells whether the stream received every one of msgs.
func (u *chatter) has(msgs []faultMsg) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, m := range msgs {
		if u.got[msgKey{m.RoomID, m.Seq}] == 0 {
			return false
		}
	}
	return true
}

// subscribe keeps the user's event stream open until ctx ends, as a
// browser's EventSource does: when the stream breaks it reconnects with
// the last id it saw as Last-Event-ID. ready is closed once the first
// stream is open.
func (u *chatter) subscribe(ctx context.Context, ready chan struct{}) {
	last := ""
	for ctx.Err() == nil {
		gen := u.session()
		url := u.base()
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/events", nil)
		req.Header.Set("Accept", "text/event-stream")
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		res, err := u.sc.Do(req)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if res.StatusCode != 200 {
			res.Body.Close()
			if res.StatusCode == 401 {
				u.relogin(ctx, gen)
			} else {
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		readSSE(res.Body, func(ev sse) bool {
			if ev.hasID {
				last = ev.id // an id-only heartbeat moves the cursor too
			}
			switch ev.name {
			case "ready":
				var r struct{ Authenticated, Resumed bool }
				json.Unmarshal([]byte(ev.data), &r)
				if !r.Authenticated {
					// The session is gone with the frontend that held it:
					// the stream is one from before login, which carries
					// no events. Log in again and resume.
					u.relogin(ctx, gen)
					return false
				}
				u.mu.Lock()
				if r.Resumed {
					u.resumes++
					u.resumedOn[url]++
				}
				u.mu.Unlock()
				if ready != nil {
					close(ready)
					ready = nil
				}
			case "resync":
				u.mu.Lock()
				u.resyncs++
				u.mu.Unlock()
				u.t.Logf("%s: resync after %s: %s", u.id, req.Header.Get("Last-Event-ID"), ev.data)
			case "read":
				var r struct {
					RoomID  int64
					UserID  string
					ReadSeq int64
				}
				if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
					u.t.Errorf("%s: read event %q: %v", u.id, ev.data, err)
					return true
				}
				k := readKey{r.RoomID, r.UserID}
				u.mu.Lock()
				u.reads[k] = max(u.reads[k], r.ReadSeq)
				u.mu.Unlock()
			case "message":
				var m faultMsg
				if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
					u.t.Errorf("%s: message event %q: %v", u.id, ev.data, err)
					return true
				}
				key := msgKey{m.RoomID, m.Seq}
				u.mu.Lock()
				if m.Seq <= u.lastSeq[m.RoomID] && u.got[key] == 0 {
					u.disorder++
				}
				u.lastSeq[m.RoomID] = max(u.lastSeq[m.RoomID], m.Seq)
				u.got[key]++
				if _, ok := u.ids[key]; !ok {
					u.ids[key] = m.ClientMsgID
				}
				u.mu.Unlock()
			}
			return true
		})
		res.Body.Close()
	}
}

// sse is one dispatched SSE message: an event, or an id-only message.
type sse struct {
	id, name, data string
	hasID          bool
}

// readSSE calls fn for every message of a text/event-stream until it
// ends or fn returns false. As in a browser, a message counts only once its blank line has
// come: one cut short by a dropped connection is not dispatched.
func readSSE(r io.Reader, fn func(sse) bool) {
	br := bufio.NewReader(r)
	var ev sse
	var data []string
	pending := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if pending && (data != nil || ev.hasID) {
				ev.data = strings.Join(data, "\n")
				if !fn(ev) {
					return
				}
			}
			ev, data, pending = sse{}, nil, false
		case strings.HasPrefix(line, ":"): // a comment
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			pending = true
			switch field {
			case "id":
				ev.id, ev.hasID = value, true
			case "event":
				ev.name = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

// ranges shows seqs compactly: "3-7,12".
func ranges(seqs []int64) string {
	var b strings.Builder
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", seqs[i], seqs[j])
		} else {
			fmt.Fprintf(&b, "%d", seqs[i])
		}
		i = j + 1
	}
	return b.String()
}
