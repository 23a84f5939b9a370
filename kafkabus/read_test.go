package kafkabus_test

import (
	"context"
	"testing"

	"github.com/chatbus/chatbus"
)

// TestReadChat drives read receipts through the real broker, backend and
// SQLite file with the Kafka client.
func TestReadChat(t *testing.T) {
	s := startSystem(t)
	c, ctx := s.client, context.Background()
	signUp(t, c, "alice")
	signUp(t, c, "bob")
	signUp(t, c, "carol")
	if _, err := c.AddFriends(ctx, "alice", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	room, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		m, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: room.ID, WriterID: "alice", Message: text})
		if err != nil || m.Unread != 1 {
			t.Fatalf("post: %+v, %v; want unreadCount 1", m, err)
		}
	}
	rooms, err := c.Rooms(ctx, "bob")
	if err != nil || len(rooms) != 1 || rooms[0].Unread != 3 {
		t.Fatalf("bob's rooms: %+v, %v; want unread 3", rooms, err)
	}

	st, err := c.MarkRead(ctx, "bob", room.ID, 2)
	if want := (chatbus.ReadState{RoomID: room.ID, UserID: "bob", ReadSeq: 2, Unread: 1}); err != nil || st != want {
		t.Fatalf("MarkRead: %+v, %v; want %+v", st, err, want)
	}
	// Backwards changes nothing; past the end is the end.
	if st, err := c.MarkRead(ctx, "bob", room.ID, 0); err != nil || st.ReadSeq != 2 {
		t.Fatalf("MarkRead backwards: %+v, %v", st, err)
	}
	hist, err := c.Messages(ctx, "alice", room.ID, chatbus.MessageFilter{})
	if err != nil || len(hist) != 3 || hist[0].Unread != 0 || hist[1].Unread != 0 || hist[2].Unread != 1 {
		t.Fatalf("history after bob read 2: %+v, %v", hist, err)
	}
	if st, err := c.MarkRead(ctx, "bob", room.ID, 100); err != nil || st.ReadSeq != 3 || st.Unread != 0 {
		t.Fatalf("MarkRead past the end: %+v, %v", st, err)
	}

	_, err = c.MarkRead(ctx, "carol", room.ID, 1)
	wantCode(t, err, chatbus.CodeForbidden, "not a member")
	_, err = c.MarkRead(ctx, "bob", 999, 1)
	wantCode(t, err, chatbus.CodeNotFound, "room 999")
	_, err = c.MarkRead(ctx, "bob", room.ID, -1)
	wantCode(t, err, chatbus.CodeInvalid, "seq")
}
