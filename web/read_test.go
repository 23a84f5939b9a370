package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/sqlite"
	"github.com/chatbus/chatbus/web"
)

// newRelayedWorld is a world over a messenger whose outbox relay() hands to
// the gateway, as the backend's relay and the frontend's reader of the
// event topics do over Kafka.
func newRelayedWorld(t *testing.T) (w *world, relay func()) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chatbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w = newWorld(t, web.Config{Service: chatbus.NewMessenger(st, chatbus.NewHasher(fastHash, 4))})
	w.gw.Start("local", []int64{0}, []int64{0}) // a log of one partition, fed below
	return w, func() {
		t.Helper()
		var evs []chatbus.Event
		err := st.Update(context.Background(), func(tx chatbus.Tx) (err error) {
			if evs, err = tx.PendingEvents(context.Background(), 1000); err != nil || len(evs) == 0 {
				return err
			}
			return tx.DeleteEvents(context.Background(), eventIDs(evs))
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			w.gw.Deliver(0, ev.ID, ev) // the outbox id serves as the offset
		}
	}
}

// TestReadReceipts: unread and read counts are right after reads on two
// devices of one user, and the other member's messages count down.
func TestReadReceipts(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	phone, laptop := w.alice, w.loggedIn("alice") // two devices of alice

	for _, text := range []string{"one", "two", "three"} {
		if m := w.bob.post(w.room, text); num(t, m["unreadCount"], "unreadCount") != 1 {
			t.Errorf("bob's new message: %v, want unreadCount 1", m)
		}
	}
	if got := phone.roomUnread(w.room); got != 3 {
		t.Errorf("alice's unread before reading: %d, want 3", got)
	}
	if got := w.bob.roomUnread(w.room); got != 0 {
		t.Errorf("bob's unread of his own messages: %d, want 0", got)
	}

	// Alice reads two on her phone: her laptop's list shows one left, and
	// bob's messages up to the second are read.
	want := map[string]any{"roomId": float64(w.room), "userId": "alice", "readSeq": float64(2), "unread": float64(1)}
	if d := cmp.Diff(want, phone.read(w.room, 2)); d != "" {
		t.Errorf("read on the phone (-want +got):\n%s", d)
	}
	if got := laptop.roomUnread(w.room); got != 1 {
		t.Errorf("the laptop's unread after the phone read 2: %d, want 1", got)
	}
	if d := cmp.Diff([]int64{0, 0, 1}, w.bob.unreadCounts(w.room)); d != "" {
		t.Errorf("bob's messages' unreadCount (-want +got):\n%s", d)
	}

	// The laptop reads everything; reading back on the phone moves nothing.
	laptop.read(w.room, 3)
	if got := phone.read(w.room, 1); got["readSeq"] != float64(3) || got["unread"] != float64(0) {
		t.Errorf("a read back on the phone: %v, want readSeq 3, unread 0", got)
	}
	for name, b := range map[string]*browser{"phone": phone, "laptop": laptop} {
		if got := b.roomUnread(w.room); got != 0 {
			t.Errorf("the %s's unread after reading all: %d, want 0", name, got)
		}
	}
	if d := cmp.Diff([]int64{0, 0, 0}, w.bob.unreadCounts(w.room)); d != "" {
		t.Errorf("bob's messages' unreadCount after alice read all (-want +got):\n%s", d)
	}

	// Errors go through the table.
	path := fmt.Sprintf("/api/rooms/%d/read", w.room)
	wantError(t, w.carol.do("POST", path, map[string]any{"seq": 1}), http.StatusForbidden, "forbidden")
	wantError(t, phone.do("POST", "/api/rooms/999999/read", map[string]any{"seq": 1}), http.StatusNotFound, "not_found")
	wantError(t, phone.do("POST", path, map[string]any{"seq": -1}), http.StatusBadRequest, "invalid")
	wantError(t, phone.do("POST", path, map[string]any{}), http.StatusBadRequest, "invalid")
	wantError(t, phone.do("POST", "/api/rooms/abc/read", map[string]any{"seq": 1}), http.StatusBadRequest, "invalid")
}

// TestReadEvents: a read reaches the streams of every member, the reader's
// other devices included, as a "read" event; a read that moves nothing
// sends none.
func TestReadEvents(t *testing.T) {
	t.Parallel()
	w, relay := newRelayedWorld(t)
	relay() // the friend and room events of the setup, before any stream
	laptop := w.loggedIn("alice")
	laptopEvents, bobEvents := laptop.events(), w.bob.events()
	laptopEvents.ready()
	bobEvents.ready()

	w.bob.post(w.room, "one")
	relay()
	for _, s := range []*eventStream{laptopEvents, bobEvents} {
		if ev := s.next(5 * time.Second); ev.Name != "message" {
			t.Fatalf("event %q, want message", ev.Name)
		}
	}
	w.alice.read(w.room, 1)
	relay()
	for name, s := range map[string]*eventStream{"alice's laptop": laptopEvents, "bob": bobEvents} {
		ev := s.next(5 * time.Second)
		var got map[string]any
		json.Unmarshal([]byte(ev.Data), &got)
		want := map[string]any{"roomId": float64(w.room), "userId": "alice", "readSeq": float64(1), "unread": float64(0)}
		if d := cmp.Diff(want, got); ev.Name != "read" || d != "" {
			t.Errorf("%s got event %q (-want +got):\n%s", name, ev.Name, d)
		}
	}
	w.alice.read(w.room, 1)
	relay()
	bobEvents.quiet(300 * time.Millisecond)
}

// eventIDs returns the ids of events, to delete them from the outbox.
func eventIDs(evs []chatbus.Event) []int64 {
	ids := make([]int64, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}
