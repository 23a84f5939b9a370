package web_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/sqlite"
	"github.com/chatbus/chatbus/web"
)

// TestTwoFrontends runs two gateways — two frontend processes, each with its
// own Kafka client — on one broker and one backend. A user on each chats
// with the other; and while both send many calls at once, every answer a
// gateway gets is the answer to its own call: a reply is never delivered to
// the wrong frontend. It runs on the embedded broker and on Apache Kafka.
func TestTwoFrontends(t *testing.T) { onEachBroker(t, testTwoFrontends) }

func testTwoFrontends(t *testing.T, conn kafkabus.Conn, topics kafkabus.Topics) {
	startBackend(t, conn, topics, newMessenger(t))
	one := newEnv(t, web.Config{Service: newKafkaClient(t, conn, topics, 20*time.Second)})
	two := newEnv(t, web.Config{Service: newKafkaClient(t, conn, topics, 20*time.Second)})

	one.signUp("alice")
	two.signUp("bob")
	alice, bob := one.loggedIn("alice"), two.loggedIn("bob")
	alice.befriend("bob")
	room := alice.openRoom("", "bob")
	alice.post(room, "hi bob, from frontend one")
	bob.post(room, "hi alice, from frontend two")
	for _, b := range []*browser{alice, bob} {
		seqs, writers := b.history(room, "")
		if fmt.Sprint(seqs) != "[1 2]" || fmt.Sprint(writers) != "[alice bob]" {
			t.Fatalf("history on one frontend: seqs %v writers %v", seqs, writers)
		}
	}

	var wg sync.WaitGroup
	for _, p := range []struct {
		b  *browser
		id string
	}{{alice, "alice"}, {bob, "bob"}} {
		for i := range 50 {
			wg.Go(func() {
				status := fmt.Sprintf("%s %d", p.id, i)
				r := p.b.do("PUT", "/api/me/status", map[string]any{"userStatus": status})
				u := wantUser(t, wantJSON(t, r, 200)["user"], p.id)
				if got := str(t, u["userStatus"], "userStatus"); got != status {
					t.Errorf("%s set %q and was answered %q", p.id, status, got)
				}
			})
		}
	}
	wg.Wait()
}

// TestPushes runs the whole path of a push: the backend saves the event with
// the change (the outbox), the relay publishes it on Kafka, each frontend
// reads it and pushes it to the streams of its user — on whichever frontend
// that user is. Bob hears that Alice added him and opened a room with him;
// Alice hears that Bob changed his status; Carol hears nothing.
func TestPushes(t *testing.T) {
	conn, topics := startBroker(t)
	startBackendWithRelay(t, conn, topics)
	// Two frontends, each reading the events.
	var envs []*env
	for range 2 {
		e := newEnv(t, web.Config{Service: newKafkaClient(t, conn, topics, 20*time.Second)})
		e.readEvents(conn, topics)
		envs = append(envs, e)
	}
	for _, id := range []string{"alice", "bob", "carol"} {
		envs[0].signUp(id)
	}
	alice, bob, carol := envs[0].loggedIn("alice"), envs[1].loggedIn("bob"), envs[1].loggedIn("carol")
	aliceEvents, bobEvents, carolEvents := alice.events(), bob.events(), carol.events()
	for _, s := range []*eventStream{aliceEvents, bobEvents, carolEvents} {
		s.ready()
	}

	alice.befriend("bob")
	ev := bobEvents.next(5 * time.Second)
	if data := eventData(t, ev); ev.Name != "friend" || data["userId"] != "alice" || ev.ID == "" {
		t.Fatalf("bob got %s %v, want friend alice", ev.Name, data)
	}
	room := alice.openRoom("", "bob")
	for _, s := range []*eventStream{bobEvents, aliceEvents} {
		ev = s.next(5 * time.Second)
		if data := eventData(t, ev); ev.Name != "room" || num(t, data["roomId"], "roomId") != room {
			t.Fatalf("got %s %v, want room %d", ev.Name, data, room)
		}
	}
	bob.do("PUT", "/api/me/status", map[string]any{"userStatus": "busy"})
	ev = aliceEvents.next(5 * time.Second)
	if data := eventData(t, ev); ev.Name != "status" || data["userId"] != "bob" || data["userStatus"] != "busy" {
		t.Fatalf("alice got %s %v, want bob's status", ev.Name, data)
	}
	// A message reaches both members, live, on their own frontends.
	bob.post(room, "live!")
	for _, s := range []*eventStream{bobEvents, aliceEvents} {
		ev = s.next(5 * time.Second)
		if data := eventData(t, ev); ev.Name != "message" || data["message"] != "live!" || data["writerId"] != "bob" || num(t, data["seq"], "seq") != 1 {
			t.Fatalf("got %s %v, want bob's message", ev.Name, data)
		}
	}
	carolEvents.quiet(300 * time.Millisecond)
}

// startBackendWithRelay runs a backend over a real SQLite store with the
// relay that publishes its outbox, as `chatbus backend` does.
func startBackendWithRelay(t testing.TB, conn kafkabus.Conn, topics kafkabus.Topics) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chatbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m := chatbus.NewMessenger(store, chatbus.NewHasher(fastHash, 4))
	relay, err := kafkabus.NewRelay(conn, topics, store)
	if err != nil {
		t.Fatal(err)
	}
	m.Wrote = relay.Poke
	ctx, cancel := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { relay.Run(ctx); close(relayDone) }()
	t.Cleanup(func() { cancel(); <-relayDone })
	startBackend(t, conn, topics, m)
}
