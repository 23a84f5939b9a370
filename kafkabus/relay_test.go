package kafkabus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
)

// TestRelaysTakeTurns: two relays on one database (two backends) — one
// publishes, so each event is published once; when it stops, the other
// takes over at once (the lease is given up), and publishes what follows.
func TestRelaysTakeTurns(t *testing.T) {
	s := startSystem(t)
	ctx := context.Background()
	insert := func(from, to int) {
		t.Helper()
		err := s.store.Update(ctx, func(tx chatbus.Tx) error {
			var evs []chatbus.Event
			for i := from; i < to; i++ {
				data, _ := json.Marshal(chatbus.Friend{ID: fmt.Sprint("f", i)})
				evs = append(evs, chatbus.Event{Kind: chatbus.EventStatus, UserID: "u", Data: data})
			}
			return tx.InsertEvents(ctx, evs)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func() (stop func()) {
		r, err := kafkabus.NewRelay(s.conn(), s.topics, s.store)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		return func() { cancel(); <-done }
	}
	published := func(want int) map[string]int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			seen := map[string]int{}
			for _, rec := range s.readAll(t, s.topics.UserEvents()) {
				var ev chatbus.Event
				json.Unmarshal(rec.Value, &ev)
				var f chatbus.Friend
				json.Unmarshal(ev.Data, &f)
				seen[f.ID]++
			}
			if len(seen) >= want || time.Now().After(deadline) {
				return seen
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	stopA := run()
	time.Sleep(200 * time.Millisecond) // a holds the lease
	stopB := run()
	defer stopB()
	for i := range 20 {
		insert(i*10, i*10+10) // pokes nobody: the relays look every second
	}
	seen := published(200)
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
	}
	if len(seen) != 200 {
		t.Fatalf("%d of 200 events published", len(seen))
	}
	stopA()
	start := time.Now()
	insert(200, 210)
	if seen := published(210); len(seen) != 210 {
		t.Fatalf("after the first relay stopped: %d of 210 published", len(seen))
	}
	if d := time.Since(start); d > kafkabus.RelayLease {
		t.Errorf("the second relay took over after %v: not before the lease expired", d)
	}
}
