package web_test

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// BenchmarkChatSendToReceive measures one message's trip, one at a time:
// POST /api/rooms/{id}/messages by Alice → Kafka → backend (SQLite, the
// outbox) → relay → room-events → the gateway → Bob's event stream.
//
//	go test -run '^$' -bench ChatSendToReceive ./web/
func BenchmarkChatSendToReceive(b *testing.B) {
	_, _, alice, bob, room := roomOverKafka(b)
	s := bob.events()
	s.ready()

	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		alice.post(room, fmt.Sprint("m", i))
		for {
			if ev := s.next(10 * time.Second); ev.Name == "message" {
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
