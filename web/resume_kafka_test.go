package web_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/web"
)

// kafkaGateway is a frontend over the real bus: its Kafka client and its
// feed of events.
func kafkaGateway(t *testing.T, conn kafkabus.Conn, topics kafkabus.Topics) *env {
	t.Helper()
	e := newEnv(t, web.Config{Service: newKafkaClient(t, conn, topics, 20*time.Second)})
	e.readEvents(conn, topics)
	return e
}

// TestResumeAcrossFrontends runs the whole path (backend, outbox, relay,
// room-events, two frontends) while Alice posts: Bob's stream is cut and
// resumed on the other frontend, then cut again and resumed on a frontend
// started after the cut (a restarted one, which reads the log back). Bob
// gets every message once, in order; Carol, who is not in the room, none.
// It runs on the embedded broker and on Apache Kafka.
func TestResumeAcrossFrontends(t *testing.T) {
	t.Parallel()
	onEachBroker(t, testResumeAcrossFrontends)
}

func testResumeAcrossFrontends(t *testing.T, conn kafkabus.Conn, topics kafkabus.Topics) {
	startBackendWithRelay(t, conn, topics)
	one, two := kafkaGateway(t, conn, topics), kafkaGateway(t, conn, topics)
	for _, id := range []string{"alice", "bob", "carol"} {
		one.signUp(id)
	}
	alice := one.loggedIn("alice")
	alice.befriend("bob", "carol")
	room := alice.openRoom("", "bob")
	carol := two.loggedIn("carol").events()
	carol.ready()

	// Bob's stream is open before the first message: a fresh stream is sent
	// what comes after it opened.
	s := two.loggedIn("bob").events()
	s.ready()
	const n = 150
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= n; i++ {
			alice.post(room, fmt.Sprint("m", i))
			time.Sleep(2 * time.Millisecond)
		}
	})
	var seq int64 // the last message Bob has
	read := func(s *eventStream, upTo int64) string {
		t.Helper()
		var id string
		for seq < upTo {
			ev := s.next(10 * time.Second)
			if ev.Name != "message" {
				continue // room, status… events
			}
			got := num(t, eventData(t, ev)["seq"], "seq")
			if got != seq+1 {
				t.Fatalf("bob got message %d after %d", got, seq)
			}
			seq, id = got, ev.ID
		}
		return id
	}

	id := read(s, 40)
	s.cut()
	time.Sleep(50 * time.Millisecond) // messages flow meanwhile

	s = one.loggedIn("bob").eventsFrom(id)
	if ready := s.ready(); ready["resumed"] != true {
		t.Fatalf("resume on the other frontend: ready %v", ready)
	}
	id = read(s, 90)
	s.cut()
	time.Sleep(50 * time.Millisecond)

	three := kafkaGateway(t, conn, topics) // started after the cut
	s = three.loggedIn("bob").eventsFrom(id)
	if ready := s.ready(); ready["resumed"] != true {
		t.Fatalf("resume on a restarted frontend: ready %v", ready)
	}
	read(s, n)
	wg.Wait()
	s.quiet(300 * time.Millisecond)
	for {
		select {
		case ev := <-carol.events:
			if ev.Name == "message" {
				t.Fatalf("carol, not a member, got %s", ev.Data)
			}
			continue
		default:
		}
		break
	}
}
