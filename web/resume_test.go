package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/web"
)

// feedMessage hands a gateway the log's event at part/offset: a message of
// the partition's room (seq = offset+1 in part 0's, 1000+offset+1 in part
// 1's) for members.
func feedMessage(t testing.TB, gw *web.Server, part int, offset int64, members ...string) int64 {
	t.Helper()
	seq, room := offset+1+int64(part)*1000, int64(part+1)
	data, _ := json.Marshal(chatbus.Message{RoomID: room, Seq: seq, WriterID: members[0], Message: fmt.Sprint("m", seq)})
	gw.Deliver(part, offset, chatbus.Event{Kind: chatbus.EventMessage, RoomID: room, To: members, Data: data})
	return seq
}

// nextSeq reads the next event, which must be a message with a cursor, and
// returns its seq and cursor.
func (s *eventStream) nextSeq() (int64, string) {
	s.t.Helper()
	ev := s.next(5 * time.Second)
	if ev.Name != "message" {
		s.t.Fatalf("got %q %s, want a message", ev.Name, ev.Data)
	}
	return num(s.t, eventData(s.t, ev)["seq"], "seq"), ev.ID
}

// wantSeqs reads messages and checks their seqs, in order; it returns the
// last one's cursor.
func (s *eventStream) wantSeqs(want ...int64) string {
	s.t.Helper()
	var id string
	for _, w := range want {
		var got int64
		if got, id = s.nextSeq(); got != w {
			s.t.Fatalf("got message %d, want %d (of %v)", got, w, want)
		}
	}
	return id
}

// twoGateways are two frontends reading one log of two partitions.
func twoGateways(t *testing.T, cfg web.Config) (*env, *env) {
	t.Helper()
	cfg.Service = newMessenger(t) // one backend for both
	a, b := newEnv(t, cfg), newEnv(t, cfg)
	for _, e := range []*env{a, b} {
		e.gw.Start("shared", []int64{0, 0}, []int64{0, 0})
	}
	return a, b
}

// A stream cut and resumed with its last cursor, on the same frontend, is
// given exactly what it missed, then the live events.
func TestResumeSameFrontend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	alice := e.loggedIn("alice")
	s := alice.events()
	if ready := s.ready(); ready["resumed"] != false {
		t.Errorf("a fresh stream: ready %v", ready)
	}
	feedMessage(t, e.gw, 0, 0, "alice", "bob")
	id := s.wantSeqs(1)
	s.cut()
	for off := int64(1); off <= 3; off++ {
		feedMessage(t, e.gw, 0, off, "alice", "bob")
	}
	feedMessage(t, e.gw, 0, 4, "bob") // not alice's

	r := alice.eventsFrom(id)
	if ready := r.ready(); ready["resumed"] != true {
		t.Errorf("a resumed stream: ready %v", ready)
	}
	last := r.wantSeqs(2, 3, 4)
	feedMessage(t, e.gw, 0, 5, "alice")
	r.wantSeqs(6)
	r.quiet(100 * time.Millisecond)

	// Resuming from a cursor that was already delivered gives nothing old.
	again := alice.eventsFrom(last)
	again.ready()
	again.wantSeqs(6)
	again.quiet(100 * time.Millisecond)
}

// The cursor is the same on every frontend: a stream cut on one resumes on
// another, which read the log's partitions interleaved differently, and is
// given each missed event once — also when that frontend has not yet read
// as far as the first had.
func TestResumeOtherFrontend(t *testing.T) {
	t.Parallel()
	one, two := twoGateways(t, web.Config{})
	one.signUp("alice")
	s := one.loggedIn("alice").events()
	s.ready()
	// Frontend one reads part 0 up to offset 2, then part 1 up to 1.
	for off := range int64(3) {
		feedMessage(t, one.gw, 0, off, "alice")
	}
	feedMessage(t, one.gw, 1, 0, "alice")
	feedMessage(t, one.gw, 1, 1, "alice")
	id := s.wantSeqs(1, 2, 3, 1001, 1002)
	s.cut()

	// Frontend two has read part 1 first, and only part 0's first event.
	feedMessage(t, two.gw, 1, 0, "alice")
	feedMessage(t, two.gw, 1, 1, "alice")
	feedMessage(t, two.gw, 1, 2, "alice")
	feedMessage(t, two.gw, 0, 0, "alice")
	r := two.loggedIn("alice").eventsFrom(id)
	if ready := r.ready(); ready["resumed"] != true {
		t.Fatalf("ready %v", ready)
	}
	r.wantSeqs(1003) // missed; part 0 is behind the cursor: nothing of it yet
	// Two catches up on part 0: what one sent already does not come again.
	feedMessage(t, two.gw, 0, 1, "alice")
	feedMessage(t, two.gw, 0, 2, "alice")
	feedMessage(t, two.gw, 0, 3, "alice")
	last := r.wantSeqs(4)
	r.quiet(100 * time.Millisecond)
	// The cursor after it is past everything seen on both.
	r.cut()
	feedMessage(t, two.gw, 1, 3, "alice")
	r2 := two.loggedIn("alice").eventsFrom(last)
	r2.ready()
	r2.wantSeqs(1004)
}

// A cursor that cannot be served — another log, garbage, or events no
// longer held — is answered with "resync" carrying a fresh cursor, never
// with a silent gap.
func TestResumeResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{Resumable: 3})
	e.signUp("alice")
	alice := e.loggedIn("alice")
	s := alice.events()
	s.ready()
	feedMessage(t, e.gw, 0, 0, "alice")
	old := s.wantSeqs(1)
	s.cut()
	for off := int64(1); off <= 4; off++ { // more than the gateway holds
		feedMessage(t, e.gw, 0, off, "alice")
	}
	off := int64(5)
	for _, cur := range []string{old, "otherlog.5", "not a cursor", "local.zz.zz", "local.-1"} {
		r := alice.eventsFrom(cur)
		if ready := r.ready(); ready["resumed"] != false {
			t.Errorf("%q: ready %v", cur, ready)
		}
		ev := r.next(5 * time.Second)
		if ev.Name != "resync" {
			t.Fatalf("%q: got %q, want resync", cur, ev.Name)
		}
		eventData(t, ev) // with a cursor to carry on from
		feedMessage(t, e.gw, 0, off, "alice")
		if seq, _ := r.nextSeq(); seq != off+1 {
			t.Errorf("%q: after resync got %d, want %d", cur, seq, off+1)
		}
		off++
		r.cut()
	}
}

// A quiet stream's cursor moves with the heartbeat (an event that carries it), so
// that it stays within what the gateway holds; and the lastEventId
// parameter does what the header does (for a client that must open a new
// EventSource).
func TestHeartbeatCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{Heartbeat: 50 * time.Millisecond})
	e.signUp("alice")
	alice := e.loggedIn("alice")
	s := alice.events()
	s.ready()
	feedMessage(t, e.gw, 0, 0, "bob")
	feedMessage(t, e.gw, 0, 1, "bob")
	deadline := time.After(5 * time.Second)
	var id string
	for id != "local.2" {
		select {
		case ev := <-s.events:
			if ev.HasID {
				id = ev.ID
			}
		case <-deadline:
			t.Fatalf("no heartbeat carried the cursor; last %q", id)
		}
	}
	feedMessage(t, e.gw, 0, 2, "alice")
	r := alice.openEvents("/api/events?lastEventId="+id, "")
	if ready := r.ready(); ready["resumed"] != true {
		t.Fatalf("ready %v", ready)
	}
	r.wantSeqs(3)
}

// The relay publishes a message again when a crash kept it from marking it
// published: the copy, at a later offset, reaches no one twice — neither
// live nor on resume.
func TestRepublishedMessageOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	alice := e.loggedIn("alice")
	s := alice.events()
	s.ready()
	data, _ := json.Marshal(chatbus.Message{RoomID: 7, Seq: 1, WriterID: "bob", Message: "once"})
	ev := chatbus.Event{Kind: chatbus.EventMessage, RoomID: 7, To: []string{"alice"}, Data: data}
	e.gw.Deliver(0, 0, ev)
	e.gw.Deliver(0, 1, ev) // the copy
	feedMessage(t, e.gw, 0, 2, "alice")
	if seq, _ := s.nextSeq(); seq != 1 {
		t.Fatalf("got %d", seq)
	}
	if seq, _ := s.nextSeq(); seq != 3 {
		t.Fatalf("got %d after the message, want 3 (the copy dropped)", seq)
	}
	r := alice.eventsFrom("local.0")
	r.ready()
	if seq, _ := r.nextSeq(); seq != 1 {
		t.Fatalf("resumed: got %d", seq)
	}
	if seq, _ := r.nextSeq(); seq != 3 {
		t.Fatalf("resumed: got %d, want 3", seq)
	}
}

// A frontend that has just started reads the past of the log first: streams
// wait for it, then a fresh one is sent only what comes after, and one that
// resumes is sent what it missed from the past.
func TestStreamsWaitForThePast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{Service: newMessenger(t)}) // no feed started yet
	e.signUp("alice")
	alice := e.loggedIn("alice")
	e.gw.Start("log", []int64{0}, []int64{3})
	opened := make(chan *eventStream, 2)
	go func() { opened <- alice.events() }()
	go func() { opened <- alice.eventsFrom("log.1") }()
	time.Sleep(100 * time.Millisecond)
	select {
	case <-opened:
		t.Fatal("a stream opened before the frontend read the log's past")
	default:
	}
	for off := range int64(3) {
		feedMessage(t, e.gw, 0, off, "alice")
	}
	a, b := <-opened, <-opened
	if ra, rb := a.ready()["resumed"], b.ready()["resumed"]; ra == true && rb == false { // in either order
		a, b = b, a
	} else if ra != false || rb != true {
		t.Fatalf("resumed: %v and %v, want one of each", ra, rb)
	}
	b.wantSeqs(2, 3)
	feedMessage(t, e.gw, 0, 3, "alice")
	a.wantSeqs(4)
	b.wantSeqs(4)
}

// A cursor ahead of the log — offsets no event has yet, such as a forged
// "epoch.zzzzzzz" — cannot be served: it gets resync, then the live events
// (before, it was taken as "another frontend read further" and the stream
// waited for offsets that never come, silent). A cursor only ahead of this
// frontend's feed, within the log, still resumes.
func TestResumeAheadOfLog(t *testing.T) {
	t.Parallel()
	var end atomic.Int64 // where the log ends, as Kafka would say
	var broken atomic.Bool
	e := newEnv(t, web.Config{LogEnd: func(context.Context) ([]int64, error) {
		if broken.Load() {
			return nil, errors.New("the brokers did not answer")
		}
		return []int64{end.Load()}, nil
	}})
	e.signUp("alice")
	alice := e.loggedIn("alice")
	feedMessage(t, e.gw, 0, 0, "alice")
	feedMessage(t, e.gw, 0, 1, "alice")
	end.Store(3) // another frontend has read offset 2 already

	off := int64(2)
	for _, cur := range []string{"local.zzzzzzz", "local.4", "local.6"} {
		if cur == "local.6" {
			broken.Store(true) // a log end that cannot be learnt: resync
		}
		r := alice.eventsFrom(cur)
		if ready := r.ready(); ready["resumed"] != false {
			t.Errorf("%q: ready %v", cur, ready)
		}
		if ev := r.next(5 * time.Second); ev.Name != "resync" {
			t.Fatalf("%q: got %q, want resync", cur, ev.Name)
		}
		feedMessage(t, e.gw, 0, off, "alice")
		if seq, _ := r.nextSeq(); seq != off+1 {
			t.Errorf("%q: after resync got %d, want %d", cur, seq, off+1)
		}
		r.cut()
		off++
		end.Store(off) // the log ends where this frontend has read
	}

	// Within the log, ahead of this frontend only: resumed, and the events
	// after the cursor come as this frontend reads them.
	broken.Store(false)
	end.Store(off + 2)
	r := alice.eventsFrom(fmt.Sprintf("local.%s", strconv.FormatInt(off+1, 36)))
	if ready := r.ready(); ready["resumed"] != true {
		t.Fatalf("ready %v", ready)
	}
	feedMessage(t, e.gw, 0, off, "alice")   // seen already, on the other frontend
	feedMessage(t, e.gw, 0, off+1, "alice") // not yet
	r.wantSeqs(off + 2)
}
