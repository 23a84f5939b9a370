package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/postgres"
	"github.com/chatbus/chatbus/postgres/pgtest"
)

// TestRunOnPostgres: with --db a postgres:// URL, the program keeps its
// state in PostgreSQL (and makes no SQLite file), across a restart.
func TestRunOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	ctx := context.Background()

	p := startRun(t, dir, "--db", url)
	c := p.client(t)
	if _, err := c.SignUp(ctx, chatbus.SignUp{UserID: "alice", Password: "pw-of-alice", Email: "a@example.com", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignUp(ctx, chatbus.SignUp{UserID: "bob", Password: "pw-of-bob", Email: "b@example.com", Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	room, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	if err == nil { // not friends yet
		t.Fatalf("OpenRoom with a stranger: %+v", room)
	}
	if _, err := c.AddFriends(ctx, "alice", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if room, err = c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.logs())
	}
	if _, err := os.Stat(filepath.Join(dir, "chatbus.db")); err == nil {
		t.Error("a SQLite database was made beside PostgreSQL")
	}

	p = startRun(t, dir, "--db", url)
	c = p.client(t)
	msg, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: room.ID, WriterID: "bob", Message: "hi"})
	if err != nil || msg.Seq != 1 {
		t.Fatalf("PostMessage after the restart: %+v, %v", msg, err)
	}

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []chatbus.Message
	err = s.View(ctx, func(tx chatbus.Tx) (err error) {
		got, err = tx.Messages(ctx, room.ID, chatbus.MessageFilter{Limit: 10})
		return err
	})
	if err != nil || len(got) != 1 || got[0].Message != "hi" {
		t.Errorf("messages in PostgreSQL: %+v, %v", got, err)
	}
}
