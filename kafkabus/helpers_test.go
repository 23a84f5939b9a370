package kafkabus_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
)

func opsList() []kafkabus.Operation { return kafkabus.Operations }

func kafkabusTopics(prefix string) kafkabus.Topics { return kafkabus.Topics{Prefix: prefix} }

// readAll reads every record now in the topics, from the start.
func (s *system) readAll(t *testing.T, topics ...string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := s.kgo(kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int32]int64{}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if want[o.Topic] == nil {
				want[o.Topic] = map[int32]int64{}
			}
			want[o.Topic][o.Partition] = o.Offset
			left++
		}
	})
	var out []*kgo.Record
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %v: %v", topics, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if r.Offset+1 == want[r.Topic][r.Partition] {
				left--
			}
		})
	}
	return out
}

func chatBusFilter() chatbus.MessageFilter { return chatbus.MessageFilter{} }

// testKeys is the bus secret of the tests' backends and clients.
var testKeys = func() *kafkabus.Keys {
	k, err := kafkabus.NewKeys([]byte("the kafkabus tests' bus secret, 32 bytes or more"))
	if err != nil {
		panic(err)
	}
	return k
}()
