package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chatbus/chatbus/internal/kafkacluster"
	"github.com/chatbus/chatbus/kafkabus"
)

// kafka is the Kafka a cross-process test runs on: the embedded broker in a
// process of its own, or Apache Kafka (the test binary's shared 3-broker
// cluster, with a topic prefix and a group of the test's own).
type kafka struct {
	name    string // "embedded" or "apache"
	brokers string // for --brokers
	// env gives every chatbus process of the test its topic prefix and
	// group (empty on the embedded broker: chatbus's defaults).
	env    []string
	topics kafkabus.Topics // the prefix; Replication as the backends resolve it
	group  string
	// proc is the embedded broker's process; cluster is Apache Kafka.
	proc    *proc
	cluster *kafkacluster.Cluster
}

// onEachKafka runs body as two subtests, "embedded" (chatbus broker with
// --broker-count n) and "apache" (Apache Kafka, 3 brokers, skipped where
// Java or Maven is missing — failed in CI).
func onEachKafka(t *testing.T, n int, body func(t *testing.T, k *kafka)) {
	t.Run("embedded", func(t *testing.T) { body(t, embeddedKafka(t, n)) })
	t.Run("apache", func(t *testing.T) { body(t, apacheKafka(t)) })
}

func embeddedKafka(t *testing.T, n int) *kafka {
	t.Helper()
	args := []string{"broker", "--kafka-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}
	if n > 1 {
		args = append(args, "--broker-count", "3")
	}
	b := startCmd(t, []string{"CHATBUS_LOG_LEVEL=info"}, []string{"embedded broker listening"}, args...)
	b.mu.Lock()
	defer b.mu.Unlock()
	return &kafka{name: "embedded", brokers: b.kafka, group: "chatbus-backend", proc: b,
		topics: kafkabus.Topics{Replication: int16(min(n, 3))}}
}

var notTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

func apacheKafka(t *testing.T) *kafka {
	t.Helper()
	c := kafkacluster.Shared(t)
	prefix := notTopicChars.ReplaceAllString(strings.ToLower(t.Name()), "-") + "."
	k := &kafka{name: "apache", brokers: c.Bootstrap(), group: prefix + "backend", cluster: c,
		topics: kafkabus.Topics{Prefix: prefix, Replication: 3}}
	k.env = []string{"CHATBUS_TOPIC_PREFIX=" + prefix, "CHATBUS_GROUP=" + k.group}
	t.Cleanup(func() {
		if t.Failed() {
			c.LogTails(t, 15)
		}
	})
	return k
}

// procs returns the broker's process, if it is one, followed by ps: the
// processes whose logs a failed test shows.
func (k *kafka) procs(ps ...*proc) []*proc {
	if k.proc != nil {
		return append([]*proc{k.proc}, ps...)
	}
	return ps
}
