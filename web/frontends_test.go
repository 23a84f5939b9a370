package web_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatbus/chatbus/web"
)

// TestTwoFrontends runs two gateways — two frontend processes, each with its
// own Kafka client — on one broker and one backend. A user on each chats
// with the other; and while both send many calls at once, every answer a
// gateway gets is the answer to its own call: a reply is never delivered to
// the wrong frontend.
func TestTwoFrontends(t *testing.T) {
	conn, topics := startBroker(t)
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
