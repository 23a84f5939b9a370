package kafkabus_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
)

// TestDescribeTopics: a missing topic, one with too few partitions and one
// with too few replicas are problems; more partitions and another retention
// are notes; after EnsureTopics only the replicas remain wrong (chatbus
// does not reassign).
func TestDescribeTopics(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: t.TempDir(), Brokers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := &system{t: t, broker: b}
	adm := kadm.NewClient(s.kgo())
	defer adm.Close()
	ctx := context.Background()

	topics, err := kafkabus.ResolveReplication(ctx, adm, kafkabus.Topics{Prefix: "d."})
	if err != nil || topics.Replication != 3 {
		t.Fatalf("replication on 3 brokers: %d, %v", topics.Replication, err)
	}
	keep, two := "3600000", "2"
	for _, c := range []struct {
		name  string
		parts int32
		rf    int16
		cfg   map[string]*string
	}{
		{"d.login-request", 1, 3, nil},
		{"d.logout-request", 9, 3, map[string]*string{"retention.ms": &keep, "min.insync.replicas": &two}},
		{"d.dead-letter", 1, 1, nil},
	} {
		if _, err := adm.CreateTopic(ctx, c.parts, c.rf, c.cfg, c.name); err != nil {
			t.Fatal(err)
		}
	}
	states, err := kafkabus.DescribeTopics(ctx, adm, topics.Specs())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]kafkabus.TopicState{}
	for _, st := range states {
		byName[strings.TrimPrefix(st.Name, "d.")] = st
	}
	want := func(name string, ok bool, problem, note string) {
		t.Helper()
		st := byName[name]
		if st.OK() != ok || (problem != "" && !slices.ContainsFunc(st.Problems, func(p string) bool { return strings.Contains(p, problem) })) ||
			(note != "" && !slices.ContainsFunc(st.Notes, func(p string) bool { return strings.Contains(p, note) })) {
			t.Errorf("%s: ok %v, problems %q, notes %q; want ok %v, problem %q, note %q", name, st.OK(), st.Problems, st.Notes, ok, problem, note)
		}
	}
	want("user-add-request", false, "missing", "")
	want("login-request", false, "1 partitions, fewer than 2", "")
	want("login-request", false, "min.insync.replicas 1, lower than 2", "")
	want("logout-request", true, "", "retention.ms 3600000, chatbus sets 604800000")
	want("logout-request", true, "", "9 partitions, more than 2")
	want("dead-letter", false, "replication factor 1, lower than 3", "")
	if st := byName["logout-request"]; st.Partitions != 9 || st.Replicas != 3 || st.Configs["retention.ms"] != keep || st.WantConfigs["segment.ms"] != "86400000" {
		t.Errorf("logout-request: %+v", st)
	}

	if err := kafkabus.EnsureTopics(ctx, adm, topics.Specs()); err != nil {
		t.Fatal(err)
	}
	states, err = kafkabus.DescribeTopics(ctx, adm, topics.Specs())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		// Neither replicas nor min.insync.replicas of a topic are changed.
		if wantOK := st.Name != "d.dead-letter" && st.Name != "d.login-request"; st.OK() != wantOK {
			t.Errorf("after EnsureTopics, %s: problems %q", st.Name, st.Problems)
		}
		if st.Name == "d.user-add-request" && (st.Configs["retention.ms"] != "3600000" || st.Configs["min.insync.replicas"] != "2" || len(st.Notes) != 0) {
			t.Errorf("created %s: configs %v, notes %q", st.Name, st.Configs, st.Notes)
		}
	}
}

// TestGroupLags: a group's committed offsets behind the end give the lag
// per partition and in total; a group that never was is Dead.
func TestGroupLags(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := &system{t: t, broker: b}
	cl := s.kgo(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "lagged"); err != nil {
		t.Fatal(err)
	}
	// Partition 0 gets 6 records, 1 gets 4, 2 none; the group commits 2 and 4.
	for p, n := range map[int32]int{0: 6, 1: 4} {
		for range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lagged", Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var commit kadm.Offsets
	commit.AddOffset("lagged", 0, 2, -1)
	commit.AddOffset("lagged", 1, 4, -1)
	if err := adm.CommitAllOffsets(ctx, "workers", commit); err != nil {
		t.Fatal(err)
	}
	lags, err := kafkabus.GroupLags(ctx, adm, "workers", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if len(lags) != 2 {
		t.Fatalf("%d groups: %+v", len(lags), lags)
	}
	g := lags[0]
	if g.Group != "workers" || g.State != "Empty" || g.Lag != 4 || g.Err != "" {
		t.Errorf("workers: %+v", g)
	}
	want := []kafkabus.PartitionLag{
		{Topic: "lagged", Partition: 0, Committed: 2, End: 6, Lag: 4},
		{Topic: "lagged", Partition: 1, Committed: 4, End: 4, Lag: 0},
		{Topic: "lagged", Partition: 2, Committed: -1, End: 0, Lag: 0}, // nothing committed, nothing to read
	}
	if !slices.Equal(g.Partitions, want) {
		t.Errorf("workers' partitions:\n got %+v\nwant %+v", g.Partitions, want)
	}
	if n := lags[1]; n.Group != "nobody" || n.State != "Dead" || len(n.Partitions) != 0 {
		t.Errorf("a group that never was: %+v", n)
	}
}
