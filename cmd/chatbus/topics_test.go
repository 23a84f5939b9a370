package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
)

// TestTopicsCommands runs chatbus topics check, create, list and lag
// against an embedded broker of three: check fails while topics are missing
// or too small and names them; create makes them; a topic with too few
// replicas keeps check failing, with the way to fix it; lag shows a
// group's committed offsets behind the end.
func TestTopicsCommands(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: t.TempDir(), Brokers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	env := []string{"CHATBUS_BROKERS=" + strings.Join(b.Addrs(), ","), "CHATBUS_TOPIC_PREFIX=t.", "CHATBUS_REPLICATION=2"}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 2, nil, "t.login-request"); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := chatbusCmd(t, env, "topics", "check")
	if code != 1 || !strings.Contains(stderr, "27 of 27 topics are not as chatbus wants") ||
		!strings.Contains(stderr, "t.login-request: 1 partitions, fewer than 2") || !strings.Contains(stderr, "t.room-events: missing") ||
		!strings.Contains(stderr, "chatbus topics create") {
		t.Fatalf("check before create: exit %d\n%s%s", code, out, stderr)
	}
	if !regexp.MustCompile(`(?m)^t\.room-events +- \(want 4\) +- \(want 2\) +- \(want 24h\) +- \(want 24h\) +MISSING$`).MatchString(out) {
		t.Errorf("check's table:\n%s", out)
	}

	out, stderr, code = chatbusCmd(t, env, "topics", "create", "--partitions", "user-add-chat-request=6")
	if code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, stderr)
	}
	for _, re := range []string{
		`(?m)^TOPIC +PARTITIONS +REPLICAS +RETENTION +SEGMENT +STATUS$`,
		`(?m)^t\.login-request +2 +2 +168h \(want 1h\) +168h \(want 1h\) +ok \(differs\)$`, // made before: the broker's defaults
		`(?m)^t\.user-add-request +5 +2 +1h +1h +ok$`,
		`(?m)^t\.user-add-chat-request +6 +2 +168h +24h +ok$`,
		`(?m)^t\.dead-letter +1 +2 +720h +24h +ok$`,
		`(?m)^t\.dead-letter-secret +1 +2 +1h +1h +ok$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("create's table lacks %s:\n%s", re, out)
		}
	}
	if _, stderr, code := chatbusCmd(t, env, "topics", "check"); code != 0 {
		t.Errorf("check after create: exit %d\n%s", code, stderr)
	}

	// The default command is list; --json gives every topic's state.
	out, stderr, code = chatbusCmd(t, env, "topics", "--json", "--replication", "3")
	var states []kafkabus.TopicState
	if err := json.Unmarshal([]byte(out), &states); err != nil || code != 0 || len(states) != 27 {
		t.Fatalf("topics --json: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if s := states[0]; s.Name != "t.login-request" || s.Partitions != 2 || s.Replicas != 2 || s.WantReplicas != 3 || s.OK() {
		t.Errorf("%+v", s)
	}
	// Three replicas wanted, two there: check fails and says how to fix it.
	if _, stderr, code := chatbusCmd(t, env, "topics", "check", "--replication", "3"); code != 1 ||
		!strings.Contains(stderr, "replication factor 2, lower than 3") || !strings.Contains(stderr, "reassignment") {
		t.Errorf("check with too few replicas: exit %d\n%s", code, stderr)
	}

	// A group that read 2 of 5 chats in partition 0 and all 3 in partition 1.
	for p, n := range []int{5, 3} {
		for range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t.user-add-chat-request", Partition: int32(p), Value: []byte("{}")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var offsets kadm.Offsets
	offsets.AddOffset("t.user-add-chat-request", 0, 2, -1)
	offsets.AddOffset("t.user-add-chat-request", 1, 3, -1)
	if err := adm.CommitAllOffsets(ctx, "readers", offsets); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = chatbusCmd(t, env, "topics", "lag", "--group", "readers,chatbus-backend")
	if code != 0 {
		t.Fatalf("lag: exit %d\n%s%s", code, out, stderr)
	}
	for _, re := range []string{
		`(?m)^GROUP +TOPIC +PARTITION +COMMITTED +END +LAG +MEMBER$`,
		`(?m)^readers +t\.user-add-chat-request +0 +2 +5 +3 +-$`,
		`(?m)^readers +t\.user-add-chat-request +1 +3 +3 +0 +-$`,
		`(?m)^group readers: Empty, 0 members, lag 3$`,
		`(?m)^group chatbus-backend: no such group`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("lag lacks %s:\n%s", re, out)
		}
	}
	out, _, _ = chatbusCmd(t, env, "topics", "lag", "--group", "readers", "--json")
	var lags []kafkabus.GroupLag
	if err := json.Unmarshal([]byte(out), &lags); err != nil || len(lags) != 1 || lags[0].Lag != 3 || len(lags[0].Partitions) != 6 {
		t.Errorf("lag --json: %v\n%s", err, out)
	}
}

// TestTopicsLagOfRunningBackend: the lag of a running backend names its
// static member id on every partition it holds.
func TestTopicsLagOfRunningBackend(t *testing.T) {
	p := startRun(t, t.TempDir(), "--instance-id", "backend-7")
	p.mu.Lock()
	addr := p.kafka
	p.mu.Unlock()
	out, stderr, code := chatbusCmd(t, []string{"CHATBUS_BROKERS=" + addr}, "topics", "lag")
	if code != 0 || !regexp.MustCompile(`(?m)^chatbus-backend +login-request +0 +\S+ +\d+ +\d+ +backend-7@`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^group chatbus-backend: Stable, 1 members, lag \d+$`).MatchString(out) {
		t.Errorf("exit %d:\n%s%s", code, out, stderr)
	}
}
