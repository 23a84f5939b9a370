package main

import (
	"strings"
	"testing"
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
	if topics, _ := f.topics(false); topics.Replication != 3 {
		t.Fatalf("a cluster gets 3 replicas by default, got %d", topics.Replication)
	}
	for _, bad := range []string{"user-add-chat-request", "user-add-chat-request=0", "user-add-chat-request=x", "no-such-topic=3", "x.login-request=3"} {
		f.Partitions = []string{bad}
		if _, err := f.topics(true); err == nil || !strings.Contains(err.Error(), "--partitions") {
			t.Errorf("--partitions %s: err = %v", bad, err)
		}
	}
}
