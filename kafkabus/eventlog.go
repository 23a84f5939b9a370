package kafkabus

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// eventTopics are the topics of the event log, in the order a Feed hands
// their partitions to its sink: the user events', then the room events'.
func eventTopics(t Topics) []string { return []string{t.UserEvents(), t.RoomEvents()} }

// EventLog tells where the event log ends, for a frontend that is handed
// a cursor ahead of what its feed has read (web.Config.LogEnd).
type EventLog struct {
	cl    *kgo.Client
	adm   *kadm.Client
	names []string
}

// NewEventLog returns an EventLog with a client of its own.
func NewEventLog(conn Conn, topics Topics) (*EventLog, error) {
	cl, err := kgo.NewClient(conn.Opts()...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &EventLog{cl: cl, adm: kadm.NewClient(cl), names: eventTopics(topics)}, nil
}

// Close releases the client.
func (l *EventLog) Close() { l.cl.Close() }

// Ends returns, for each partition of the event log in the Feed's order,
// the offset after its last record now.
func (l *EventLog) Ends(ctx context.Context) ([]int64, error) {
	listed, err := l.adm.ListEndOffsets(ctx, l.names...)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var out []int64
	for _, name := range l.names {
		n := len(listed[name])
		if n == 0 {
			return nil, fmt.Errorf("topic %s is missing", name)
		}
		for p := range int32(n) {
			o, ok := listed.Lookup(name, p)
			if !ok || o.Offset < 0 {
				return nil, fmt.Errorf("no end offset for %s/%d", name, p)
			}
			out = append(out, o.Offset)
		}
	}
	return out, nil
}
