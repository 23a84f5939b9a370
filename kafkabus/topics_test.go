package kafkabus_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
)

// TestEnsureTopics: missing topics are created with the seed's partition
// counts and a retention; a topic with fewer partitions is raised; one with
// more is left alone, and so is its configuration; a second run changes
// nothing.
func TestEnsureTopics(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := &system{t: t, broker: b}
	adm := kadm.NewClient(s.kgo())
	defer adm.Close()
	ctx := context.Background()

	topics := kafkabus.Topics{Prefix: "p.", Replication: 1, Partitions: map[string]int32{"user-add-chat-request": 6}}
	// Before: one topic too small, one larger than asked, with its own retention.
	keep := "3600000"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "p.login-request"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 9, 1, map[string]*string{"retention.ms": &keep}, "p.logout-request"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := kafkabus.EnsureTopics(ctx, adm, topics.Specs()); err != nil {
			t.Fatal(err)
		}
	}
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"p.login-request": 2, "p.logout-request": 9, "p.user-add-request": 5,
		"p.user-add-chat-request": 6, "p.user-add-chat-response": 2, "p.dead-letter": 1}
	for name, n := range want {
		if got := len(details[name].Partitions); got != n {
			t.Errorf("%s has %d partitions, want %d", name, got, n)
		}
	}
	if len(details) != len(topics.Specs()) {
		t.Errorf("%d topics exist, want %d", len(details), len(topics.Specs()))
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "p.logout-request", "p.login-request", "p.user-add-chat-request")
	checked := 0
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			if c.Key != "retention.ms" {
				continue
			}
			want := "604800000" // 7 days, set on creation …
			if rc.Name == "p.logout-request" {
				want = keep // … but an existing topic keeps its own
			}
			if rc.Name == "p.login-request" {
				continue // created before, without one: the broker's default
			}
			checked++
			if c.MaybeValue() != want {
				t.Errorf("%s retention.ms = %s, want %s", rc.Name, c.MaybeValue(), want)
			}
		}
	}
	// Requests holding passwords are kept an hour, and segments roll daily.
	secret, err := adm.DescribeTopicConfigs(ctx, "p.user-add-request")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range secret[0].Configs {
		if (c.Key == "retention.ms" && c.MaybeValue() != "3600000") || (c.Key == "segment.ms" && c.MaybeValue() != "3600000") {
			t.Errorf("p.user-add-request %s = %s", c.Key, c.MaybeValue())
		}
	}
	if checked != 2 {
		t.Errorf("checked the retention of %d topics, want 2", checked)
	}
}
