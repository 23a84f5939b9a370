package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
)

func TestTopicFlags(t *testing.T) {
	f := kafkaFlags{TopicPrefix: "x.", Partitions: []string{"user-add-chat-request=12"}}
	topics, err := f.topics(true)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Replication != 1 || topics.Partitions["user-add-chat-request"] != 12 {
		t.Fatalf("embedded: %+v", topics)
	}
	if topics, _ := f.topics(false); topics.Replication != 0 {
		t.Fatalf("on a cluster the replicas are decided at start (0), got %d", topics.Replication)
	}
	for _, bad := range []string{"user-add-chat-request", "user-add-chat-request=0", "user-add-chat-request=x", "no-such-topic=3", "x.login-request=3"} {
		f.Partitions = []string{bad}
		if _, err := f.topics(true); err == nil || !strings.Contains(err.Error(), "--partitions") {
			t.Errorf("--partitions %s: err = %v", bad, err)
		}
	}
}

// TestBackendOnOneBroker: `chatbus backend` against a one-broker cluster
// creates its topics with one replica (min(3, brokers)).
func TestBackendOnOneBroker(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f := kafkaFlags{Brokers: b.Addrs()}
	topics, _ := f.topics(false)
	if err := ensureTopics(context.Background(), kafkabus.Conn{Brokers: b.Addrs()}, topics, kafkabus.Topics.Specs); err != nil {
		t.Fatalf("ensure topics on one broker: %v", err)
	}
}
