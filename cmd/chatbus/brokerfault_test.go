package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chatbus/chatbus/internal/kafkacluster"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/postgres/pgtest"
)

// TestBrokerFault is Apache Kafka's fault test, which the embedded broker
// cannot have (its replication is metadata only): while 20 senders post
// 5,000 chats through two frontends to two backends on PostgreSQL, a
// broker of the three is killed with SIGKILL and restarted — first the
// leader of a chat-request partition, then one at random, four times in
// all, each once the replicas are in sync again. Topics have three
// replicas and min.insync.replicas 2, and every producer waits for all
// in-sync replicas, so no acknowledged chat may be lost: afterwards every
// one is stored once, at the seq it was acknowledged with, and every
// member's resumed stream was sent each message of its room once.
func TestBrokerFault(t *testing.T) {
	db := pgtest.URL(t) // first: its schema outlives the processes
	k := apacheKafka(t)
	senders, chats := 20, 5000
	if testing.Short() {
		chats = 1500
	}
	const roomSize = 5
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	var sent, subs sync.WaitGroup
	defer func() { cancel(); sent.Wait(); subs.Wait() }()
	// Whatever happens, the shared cluster is whole again for the next test.
	defer func() {
		for _, id := range k.cluster.IDs() {
			k.cluster.Restart(context.Background(), id) // an error: it runs
		}
	}()

	dir := t.TempDir()
	env := append([]string{"CHATBUS_LOG_LEVEL=info"}, k.env...)
	var procs []*proc
	for i := range 2 {
		procs = append(procs, startCmd(t, env, []string{"backend serving"}, "backend", "--brokers", k.brokers,
			"--db", db, "--instance-id", fmt.Sprintf("backend-%d", i+1), "--data-dir", dir))
	}
	var urls []string
	for range 2 {
		addr := freeAddr(t)
		procs = append(procs, startCmd(t, env, []string{"web gateway listening"}, "frontend", "--brokers", k.brokers,
			"--http-addr", addr, "--limits-exempt", "127.0.0.1/32"))
		urls = append(urls, "http://"+addr)
	}
	adm := clusterAdmin(t, k.brokers)
	checkReplication(t, adm, k.topics)

	tr := &http.Transport{MaxIdleConnsPerHost: 4 * senders}
	defer tr.CloseIdleConnections()
	users := make([]*chatter, senders)
	for i := range users {
		users[i] = newChatter(t, tr, urls[i%2], fmt.Sprintf("b%d", i))
	}
	members := chatRooms(ctx, t, users, roomSize)
	if t.Failed() {
		t.FailNow()
	}
	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	openStreams(ctx, subCtx, t, users, &subs)
	a := sendChats(ctx, users, chats, &sent)

	// The faults, spread over the run.
	plan := []string{"leader", "random", "leader", "random"}
	chatTopic := k.topics.Request(kafkabus.OpAddChat)
	var killed []int32
	for i, what := range plan {
		for a.n.Load() < int64((i+1)*chats/(len(plan)+1)) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		if ctx.Err() != nil {
			break
		}
		victim := k.cluster.IDs()[rand.IntN(3)]
		if what == "leader" {
			l, err := k.cluster.Leader(ctx, chatTopic, int32(i/2%2))
			if err != nil {
				t.Fatalf("the leader of %s: %v", chatTopic, err)
			}
			victim = l
		}
		t.Logf("%v: SIGKILL broker %d (%s) at %d acknowledged", time.Since(start).Round(time.Millisecond), victim, what, a.n.Load())
		if err := k.cluster.Kill(victim); err != nil {
			t.Fatal(err)
		}
		killed = append(killed, victim)
		// Chats flow without it, then it comes back.
		for n := a.n.Load(); a.n.Load() < n+int64(senders) && ctx.Err() == nil; {
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%v: chats flow without broker %d", time.Since(start).Round(time.Millisecond), victim)
		if err := k.cluster.Restart(ctx, victim); err != nil {
			t.Fatal(err)
		}
		if err := k.cluster.WaitInSync(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: broker %d back, every replica in sync", time.Since(start).Round(time.Millisecond), victim)
	}
	sent.Wait()
	sendTime := time.Since(start)

	a.mu.Lock()
	history, stored := checkHistories(ctx, t, members, func(g []*chatter) *chatter { return g[0] }, a.ids, chats)
	nAck := len(a.ids)
	a.mu.Unlock()
	awaitDeliveries(users, history)
	time.Sleep(time.Second)
	stopSubs()
	subs.Wait()

	f := tally(t, users, history)
	if f.resyncs > 0 {
		t.Errorf("%d streams could not resume (resync)", f.resyncs)
	}
	published, copies := messageEvents(t, k)
	figures(t, "Apache Kafka %s, 3 brokers, 2 backends, 2 frontends, %d senders, brokers killed %v: %d chats acknowledged (%d calls retried), %d stored, %d message events published (%d copies); deliveries %d expected, %d received, %d duplicates, %d lost; %d streams resumed, %d resyncs; longest pause in acknowledgements %v; sending took %v, all %v",
		kafkacluster.Version, senders, killed, nAck, f.retries, stored, published, copies, f.expected, f.received, f.dups, f.lost,
		f.resumes, f.resyncs, time.Duration(a.longest.Load()).Round(time.Millisecond),
		sendTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		for _, p := range procs {
			t.Logf("the log of chatbus %s (pid %d):\n%s", p.args[0], p.cmd.Process.Pid, p.logs())
		}
	}
}
