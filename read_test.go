package chatbus_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatbus/chatbus"
)

func (e *env) markRead(t *testing.T, userID string, roomID, seq int64) chatbus.ReadState {
	t.Helper()
	st, err := e.m.MarkRead(t.Context(), userID, roomID, seq)
	if err != nil {
		t.Fatalf("MarkRead(%s, %d, %d): %v", userID, roomID, seq, err)
	}
	return st
}

// unreadCounts returns the unreadCount of each message of a room's history.
func (e *env) unreadCounts(t *testing.T, userID string, roomID int64) []int {
	t.Helper()
	out := []int{}
	for _, m := range e.history(t, userID, roomID) {
		out = append(out, m.Unread)
	}
	return out
}

// unread returns each user's unread count of a room, from their room list.
func (e *env) unread(t *testing.T, roomID int64, userIDs ...string) []int64 {
	t.Helper()
	out := []int64{}
	for _, id := range userIDs {
		for _, r := range e.rooms(t, id) {
			if r.ID == roomID {
				out = append(out, r.Unread)
			}
		}
	}
	return out
}

// takeEvents takes the outbox's events, in order.
func (e *env) takeEvents(t *testing.T) []chatbus.Event {
	t.Helper()
	var evs []chatbus.Event
	err := e.store.Update(t.Context(), func(tx chatbus.Tx) (err error) {
		if evs, err = tx.PendingEvents(t.Context(), 1000); err != nil || len(evs) == 0 {
			return err
		}
		return tx.DeleteEvents(t.Context(), eventIDs(evs))
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestReadReceipts(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "a", "b", "c", "d")
	e.befriend(t, "a", "b", "c")
	r := e.openRoom(t, chatbus.OpenRoom{UserID: "a", FriendIDs: []string{"b", "c"}}).ID

	// A new message is unread by everyone but its writer.
	if m := e.post(t, r, "a", "one"); m.Unread != 2 {
		t.Errorf("a new message in a room of 3: unreadCount %d, want 2", m.Unread)
	}
	e.post(t, r, "a", "two")
	if d := cmp.Diff([]int64{0, 2, 2}, e.unread(t, r, "a", "b", "c")); d != "" {
		t.Errorf("unread of a, b, c after a's 2 messages (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{2, 2}, e.unreadCounts(t, "b", r)); d != "" {
		t.Errorf("unreadCounts (-want +got):\n%s", d)
	}

	// b reads the first; a read backwards changes nothing.
	want := chatbus.ReadState{RoomID: r, UserID: "b", ReadSeq: 1, Unread: 1}
	if d := cmp.Diff(want, e.markRead(t, " B", r, 1)); d != "" {
		t.Errorf("b reads seq 1 (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, e.markRead(t, "b", r, 0)); d != "" {
		t.Errorf("b reads seq 0 after 1 (-want +got):\n%s", d)
	}
	// c reads past the end: that is the end.
	if d := cmp.Diff(chatbus.ReadState{RoomID: r, UserID: "c", ReadSeq: 2}, e.markRead(t, "c", r, 99)); d != "" {
		t.Errorf("c reads seq 99 of 2 (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{0, 1}, e.unreadCounts(t, "a", r)); d != "" {
		t.Errorf("unreadCounts after b read 1 and c read 2 (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int64{0, 1, 0}, e.unread(t, r, "a", "b", "c")); d != "" {
		t.Errorf("unread of a, b, c after reads (-want +got):\n%s", d)
	}

	// Writing reads: b answers, and has read all before.
	if m := e.post(t, r, "b", "three"); m.Unread != 2 {
		t.Errorf("b's message: unreadCount %d, want 2", m.Unread)
	}
	if d := cmp.Diff([]int{0, 0, 2}, e.unreadCounts(t, "c", r)); d != "" {
		t.Errorf("unreadCounts after b's answer (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int64{1, 0, 1}, e.unread(t, r, "a", "b", "c")); d != "" {
		t.Errorf("unread of a, b, c after b's answer (-want +got):\n%s", d)
	}
	rooms := e.rooms(t, "c")
	wantMembers := []chatbus.Member{{ID: "a", Name: "Ann", ReadSeq: 2}, {ID: "b", Name: "Bea", ReadSeq: 3}, {ID: "c", Name: "Cid", ReadSeq: 2}}
	if d := cmp.Diff(wantMembers, rooms[0].Members); d != "" {
		t.Errorf("members' read positions (-want +got):\n%s", d)
	}
	if rooms[0].LastMessage == nil || rooms[0].LastMessage.Unread != 2 {
		t.Errorf("the room list's last message: %+v, want unreadCount 2", rooms[0].LastMessage)
	}

	for _, c := range []struct {
		user      string
		room, seq int64
		code      chatbus.Code
	}{
		{"d", r, 1, chatbus.CodeForbidden},
		{"nobody", r, 1, chatbus.CodeForbidden},
		{"a", r + 100, 1, chatbus.CodeNotFound},
		{"a", r, -1, chatbus.CodeInvalid},
		{"a", 0, 1, chatbus.CodeInvalid},
		{"", r, 1, chatbus.CodeInvalid},
	} {
		_, err := e.m.MarkRead(t.Context(), c.user, c.room, c.seq)
		if chatbus.ErrorCode(err) != c.code {
			t.Errorf("MarkRead(%q, %d, %d): %v, want %s", c.user, c.room, c.seq, err, c.code)
		}
	}
}

// TestReadReopenedDirectRoom: opening a direct room again shows the
// opener's unread count.
func TestReadReopenedDirectRoom(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "a", "b")
	e.befriend(t, "a", "b")
	r := e.openRoom(t, chatbus.OpenRoom{UserID: "a", FriendIDs: []string{"b"}}).ID
	e.post(t, r, "a", "one")
	e.post(t, r, "a", "two")
	if got := e.openRoom(t, chatbus.OpenRoom{UserID: "b", FriendIDs: []string{"a"}}); got.ID != r || got.Unread != 2 {
		t.Errorf("b reopens the room: id %d unread %d, want %d and 2", got.ID, got.Unread, r)
	}
	if got := e.openRoom(t, chatbus.OpenRoom{UserID: "a", FriendIDs: []string{"b"}}); got.Unread != 0 {
		t.Errorf("a reopens the room: unread %d, want 0", got.Unread)
	}
}

// TestReadEvents: a read that moves a position tells the room's members,
// once; a read that moves nothing, or a replay, tells no one.
func TestReadEvents(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "a", "b")
	e.befriend(t, "a", "b")
	r := e.openRoom(t, chatbus.OpenRoom{UserID: "a", FriendIDs: []string{"b"}}).ID
	e.post(t, r, "a", "one")
	e.post(t, r, "a", "two")
	e.takeEvents(t)

	key := chatbus.WithIdempotencyKey(t.Context(), "read-1")
	for range 2 { // the second is a replay
		if _, err := e.m.MarkRead(key, "b", r, 1); err != nil {
			t.Fatal(err)
		}
	}
	evs := e.takeEvents(t)
	if len(evs) != 1 || evs[0].Kind != chatbus.EventRead || evs[0].RoomID != r || strings.Join(evs[0].To, ",") != "a,b" ||
		string(evs[0].Data) != fmt.Sprintf(`{"roomId":%d,"userId":"b","readSeq":1,"unread":1}`, r) {
		t.Fatalf("events of a read: %+v", evs)
	}
	e.markRead(t, "b", r, 1)
	e.markRead(t, "b", r, 0)
	if evs := e.takeEvents(t); len(evs) != 0 {
		t.Fatalf("reads that moved nothing saved events: %+v", evs)
	}
	_, err := e.m.MarkRead(t.Context(), "b", r, -5)
	wantCode(t, err, chatbus.CodeInvalid)
	e.markRead(t, "b", r, 2)
	if evs := e.takeEvents(t); len(evs) != 1 || !strings.Contains(string(evs[0].Data), `"readSeq":2,"unread":0`) {
		t.Fatalf("events of reading on: %+v", evs)
	}
}
