package kafkabus_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"
)

// BenchmarkFriendsRoundTrip measures a cheap operation's request→reply
// round trip through the embedded broker, the backend and SQLite: the
// client produces to user-search-friend-request, the backend reads the
// friend list, the reply comes back on user-search-friend-response.
//
//	go test -run '^$' -bench FriendsRoundTrip ./kafkabus/
func BenchmarkFriendsRoundTrip(b *testing.B) {
	s := startSystem(b)
	ctx := context.Background()
	signUp(b, s.client, "alice")
	for i := range 5 {
		signUp(b, s.client, fmt.Sprint("friend", i))
		if _, err := s.client.AddFriends(ctx, "alice", []string{fmt.Sprint("friend", i)}); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("sequential", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			t0 := time.Now()
			if _, err := s.client.Friends(ctx, "alice"); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(32) // 32 × GOMAXPROCS callers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.client.Friends(ctx, "alice"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
