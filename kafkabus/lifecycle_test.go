package kafkabus_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
)

// TestRestartKeepsEverything stops the backend and the broker and starts
// them again on the same directory: users, friends, rooms, chats and the
// group's committed offsets are all there, and no request is served twice.
func TestRestartKeepsEverything(t *testing.T) {
	s := startSystem(t)
	c, ctx := s.client, context.Background()
	room := s.openChat(t)
	for i := range 5 {
		if _, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: room, WriterID: "alice", Message: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	committed := s.committedOffsets(t)
	repliesBefore := len(s.readAll(t, s.topicsOf(false)...))

	s.restart()
	c = s.client

	if _, err := c.LogIn(ctx, "bob", pw); err != nil {
		t.Fatalf("login after restart: %v", err)
	}
	fs, err := c.Friends(ctx, "alice")
	if err != nil || len(fs) != 1 || fs[0].ID != "bob" {
		t.Fatalf("friends after restart: %+v, %v", fs, err)
	}
	rooms, err := c.Rooms(ctx, "bob")
	if err != nil || len(rooms) != 1 || rooms[0].LastSeq != 5 {
		t.Fatalf("rooms after restart: %+v, %v", rooms, err)
	}
	m, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: room, WriterID: "bob", Message: "after"})
	if err != nil || m.Seq != 6 {
		t.Fatalf("the seq goes on after a restart: %+v, %v", m, err)
	}
	// The offsets committed before the restart survived it, and the
	// requests before them were not served again: only the four requests
	// made since (login, friends, rooms, post) have new replies.
	after := s.committedOffsets(t)
	for tp, off := range committed {
		if after[tp] < off {
			t.Errorf("committed offset of %s went back from %d to %d", tp, off, after[tp])
		}
	}
	if n := len(s.readAll(t, s.topicsOf(false)...)); n != repliesBefore+4 {
		t.Fatalf("%d replies after the restart, want %d + 4: old requests were served again", n, repliesBefore)
	}
}

// committedOffsets returns the backend group's committed offsets by
// "topic/partition", after checking that they reach the end of each topic.
func (s *system) committedOffsets(t *testing.T) map[string]int64 {
	t.Helper()
	adm := kadm.NewClient(s.kgo())
	defer adm.Close()
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, s.topicsOf(true)...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := adm.FetchOffsets(ctx, "chatbus-backend")
		if err != nil {
			t.Fatal(err)
		}
		behind := ""
		ends.Each(func(e kadm.ListedOffset) {
			o, _ := got.Lookup(e.Topic, e.Partition)
			out[fmt.Sprintf("%s/%d", e.Topic, e.Partition)] = o.At
			if e.Offset > 0 && o.At < e.Offset {
				behind = fmt.Sprintf("%s/%d at %d of %d", e.Topic, e.Partition, o.At, e.Offset)
			}
		})
		if behind == "" {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets do not reach the end: %s", behind)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStopUnderLoadLosesNothing stops the backend gracefully while 8
// writers post 200 chats, and starts it again: every post is answered, and
// the room holds each message once, seqs 1…200 with no gap.
func TestStopUnderLoadLosesNothing(t *testing.T) {
	s := startSystem(t)
	room := s.openChat(t)
	const writers, each = 8, 25
	wait := postConcurrently(s.client, room, writers, each, true)
	time.Sleep(50 * time.Millisecond)
	if err := s.stopBackend(); err != nil {
		t.Fatal(err)
	}
	s.startBackend()
	for _, err := range wait() {
		t.Errorf("post: %v", err)
	}
	wantEachOnce(t, s.client, room, writers*each)
}

// openChat signs up alice and bob, and opens their direct room.
func (s *system) openChat(t *testing.T) int64 {
	t.Helper()
	c, ctx := s.client, context.Background()
	signUp(t, c, "alice")
	signUp(t, c, "bob")
	c.AddFriends(ctx, "alice", []string{"bob"})
	room, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	return room.ID
}

// postConcurrently has writers post each chats as alice ("w<writer>-<i>"),
// with that text as clientMsgId when clientIDs; wait returns the errors.
func postConcurrently(c chatbus.Service, room int64, writers, each int, clientIDs bool) (wait func() []error) {
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				text := fmt.Sprintf("w%d-%d", w, i)
				req := chatbus.PostMessage{RoomID: room, WriterID: "alice", Message: text}
				if clientIDs {
					req.ClientMsgID = text
				}
				if _, err := c.PostMessage(context.Background(), req); err != nil {
					errs <- err
				}
			}
		})
	}
	return func() []error {
		wg.Wait()
		close(errs)
		var out []error
		for err := range errs {
			out = append(out, err)
		}
		return out
	}
}

// wantEachOnce reads the room's whole history: seqs 1…n with no gap, each
// text once.
func wantEachOnce(t *testing.T, c chatbus.Service, room int64, n int) {
	t.Helper()
	seen := map[string]bool{}
	var last int64
	for {
		page, err := c.Messages(context.Background(), "bob", room, chatbus.MessageFilter{Forward: true, After: last, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			if m.Seq != last+1 {
				t.Fatalf("seq %d follows %d", m.Seq, last)
			}
			if seen[m.Message] {
				t.Fatalf("%q saved twice", m.Message)
			}
			seen[m.Message], last = true, m.Seq
		}
	}
	if len(seen) != n {
		t.Fatalf("%d messages saved, want %d", len(seen), n)
	}
}

// TestTwoBackendsShareTheWork runs a second backend in the same group: both
// get partitions, and every request is answered once.
func TestTwoBackendsShareTheWork(t *testing.T) {
	s := startSystem(t)
	defer s.extraBackend(t)()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { signUp(t, s.client, fmt.Sprintf("user%d", i)) })
	}
	wg.Wait()
	for i := range 40 {
		if _, err := s.client.LogIn(context.Background(), fmt.Sprintf("user%d", i), pw); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.readAll(t, s.topics.Response(kafkabus.OpSignUp))); n != 40 {
		t.Fatalf("%d sign-up replies for 40 requests", n)
	}
}

// TestBrokerPortInUse: a taken port is one line naming the port and the flag.
func TestBrokerPortInUse(t *testing.T) {
	first, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	addr := first.Addrs()[0]
	_, err = broker.Start(broker.Config{Addr: addr, Dir: t.TempDir(), FlagName: "--kafka-addr"})
	port := addr[strings.LastIndex(addr, ":")+1:]
	if err == nil || !strings.Contains(err.Error(), "port "+port+" is in use") || !strings.Contains(err.Error(), "--kafka-addr") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error = %v", err)
	}
}

// TestBrokerDataDirLocked: a second broker on the same directory is refused.
func TestBrokerDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	first, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another chatbus broker") {
		t.Fatalf("error = %v", err)
	}
	first.Close()
	again, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: dir})
	if err != nil {
		t.Fatalf("after close the directory is free: %v", err)
	}
	again.Close()
}

// TestRebalanceUnderLoad moves partitions between backends while 4 writers
// post 400 chats (no clientMsgId: only the correlation ids guard them): a
// second backend joins, the first leaves, the first comes back, the second
// leaves. Every post is answered and stored exactly once, seqs 1…400.
func TestRebalanceUnderLoad(t *testing.T) {
	s := startSystem(t)
	room := s.openChat(t)
	const writers, each = 4, 100
	wait := postConcurrently(s.client, room, writers, each, false)
	time.Sleep(100 * time.Millisecond)
	stopSecond := s.extraBackend(t)
	time.Sleep(300 * time.Millisecond)
	if err := s.stopBackend(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	s.startBackend()
	time.Sleep(300 * time.Millisecond)
	stopSecond()
	for _, err := range wait() {
		t.Errorf("post: %v", err)
	}
	wantEachOnce(t, s.client, room, writers*each)
}

// extraBackend starts another backend in the group, on the same store; stop
// stops it gracefully.
func (s *system) extraBackend(t *testing.T) (stop func()) {
	t.Helper()
	srv, err := kafkabus.NewServer(kafkabus.ServerConfig{Conn: s.conn(), Topics: s.topics},
		chatbus.NewMessenger(s.store, chatbus.NewHasher(fastHash, 4)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
