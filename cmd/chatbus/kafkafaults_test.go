package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatbus/chatbus/kafkabus"
)

// TestNoBrokerAtStart: a backend whose brokers are all down exits with a
// line that names the cluster and what to check, not a hang.
func TestNoBrokerAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	start := time.Now()
	_, stderr, code := chatbusCmd(t, []string{busSecret(t)}, "backend", "--brokers", addr, "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "the Kafka cluster at "+addr) || !strings.Contains(stderr, "is the cluster up") {
		t.Errorf("exit %d after %v:\n%s", code, time.Since(start).Round(time.Millisecond), stderr)
	}
	t.Logf("exit %d after %v: %s", code, time.Since(start).Round(time.Millisecond), lastLine(stderr))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestKafkaFaults runs chatbus against Apache Kafka's faults: more
// replicas asked for than brokers, a topic of the wrong partition count and
// min.insync.replicas, a broker down at start, and brokers lost while a
// chat is sent. Each is a clear line in the log or on stderr, and a
// caller gets 503 with Retry-After in time, never a hang.
func TestKafkaFaults(t *testing.T) {
	k := apacheKafka(t)
	c := k.cluster
	dir := t.TempDir()
	env := append([]string{"CHATBUS_LOG_LEVEL=info"}, k.env...)

	// Four replicas on three brokers: refused, saying so.
	_, stderr, code := chatbusCmd(t, env, "backend", "--brokers", k.brokers, "--data-dir", dir, "--replication", "4")
	if code != 1 || !strings.Contains(stderr, "INVALID_REPLICATION_FACTOR") || !strings.Contains(stderr, "fewer brokers are up than the replication factor") {
		t.Errorf("--replication 4 on 3 brokers: exit %d:\n%s", code, stderr)
	}
	t.Logf("--replication 4 on 3 brokers: %s", lastLine(stderr))

	// A topic that exists with too few partitions and min.insync.replicas
	// 1: topics check names both.
	adm := clusterAdmin(t, k.brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	one := "1"
	chat := k.topics.Request(kafkabus.OpAddChat)
	if r, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &one}, chat); err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}
	_, stderr, code = chatbusCmd(t, env, "topics", "check", "--brokers", k.brokers)
	for _, want := range []string{chat + ": 1 partitions, fewer than 2; min.insync.replicas 1, lower than 2", "kafka-configs.sh"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("topics check: exit %d, want %q in:\n%s", code, want, stderr)
		}
	}
	if _, err := adm.DeleteTopic(ctx, chat); err != nil {
		t.Fatal(err)
	}

	// A broker down at start (SIGKILLed, fenced by the controller): the
	// backend still creates its topics with three replicas — Kafka places
	// the third on the fenced broker, which catches up when it is back —
	// and serves; the two left are min.insync.replicas.
	if err := c.Kill(3); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil { // until the controller fenced it
		t.Fatal(err)
	}
	back := startCmd(t, env, []string{"backend serving"}, "backend", "--brokers", k.brokers, "--data-dir", dir,
		"--instance-id", "faults", "--replication", "3")
	checkReplication(t, adm, k.topics)
	addr := freeAddr(t)
	front := startCmd(t, env, []string{"web gateway listening"}, "frontend", "--brokers", k.brokers,
		"--http-addr", addr, "--limits-exempt", "127.0.0.1/32", "--request-timeout", "5s")
	u := newChatter(t, nil, "http://"+addr, "alice")
	chatRooms(ctx, t, []*chatter{u, newChatter(t, nil, "http://"+addr, "bob")}, 2)
	if _, ok := u.post(ctx, u.room, "before"); !ok {
		t.Fatal("no chat with a broker down")
	}
	if err := c.Restart(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}

	// Two brokers of three lost mid-send: fewer in sync than
	// min.insync.replicas (and no KRaft quorum). Calls get 503 with
	// Retry-After within the request timeout, and the frontend logs why.
	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(3); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for i := range 3 {
		start := time.Now()
		res, err := u.c.Post(u.base()+fmt.Sprintf("/api/rooms/%d/messages", u.room), "application/json",
			strings.NewReader(fmt.Sprintf(`{"message":"lost %d","clientMsgId":"lost-%d"}`, i, i)))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("a chat with two brokers down: %v after %v", err, took)
		}
		res.Body.Close()
		statuses = append(statuses, res.StatusCode)
		if res.StatusCode == 201 {
			continue // written before the leader noticed
		}
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || took > 8*time.Second {
			t.Errorf("a chat with two brokers down: %d (Retry-After %q) after %v, want 503 with Retry-After within the 5 s timeout",
				res.StatusCode, res.Header.Get("Retry-After"), took)
		}
		t.Logf("a chat with two brokers down: %d, Retry-After %q, after %v", res.StatusCode, res.Header.Get("Retry-After"), took.Round(time.Millisecond))
	}
	if !strings.Contains(front.logs(), `msg=unavailable`) {
		t.Errorf("the frontend logged no unavailable line:\n%s", front.logs())
	}
	for _, id := range []int32{2, 3} {
		if err := c.Restart(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Back: the chats sent again are stored once.
	for i := range 3 {
		if _, ok := u.post(ctx, u.room, fmt.Sprintf("lost-%d", i)); !ok {
			t.Errorf("chat lost-%d after the brokers came back", i)
		}
	}
	if err := c.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	h := u.history(ctx, u.room)
	if len(h) != 4 {
		t.Errorf("history after the faults: %+v, want before and lost-0…2 once each", h)
	}
	t.Logf("statuses with two brokers down: %v", statuses)
	if t.Failed() {
		t.Logf("backend:\n%s\nfrontend:\n%s", back.logs(), front.logs())
	}
	back.stop(t, syscall.SIGTERM)
}
