package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/internal/kafkacluster"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/web"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kafkacluster.StopShared()
	os.Exit(code)
}

// startBroker starts a real embedded broker with the chatbus topics.
func startBroker(t testing.TB) (kafkabus.Conn, kafkabus.Topics) {
	t.Helper()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return ensureTopics(t, b.Addrs(), kafkabus.Topics{Replication: 1})
}

// onEachBroker runs body as two subtests: "embedded" (startBroker) and
// "apache", on the test binary's shared Apache Kafka cluster of three
// brokers, with topics of three replicas under a prefix of the test's own
// (skipped where Java or Maven is missing; failed in CI).
func onEachBroker(t *testing.T, body func(t *testing.T, conn kafkabus.Conn, topics kafkabus.Topics)) {
	t.Run("embedded", func(t *testing.T) {
		conn, topics := startBroker(t)
		body(t, conn, topics)
	})
	t.Run("apache", func(t *testing.T) {
		c := kafkacluster.Shared(t)
		prefix := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name()) + "."
		conn, topics := ensureTopics(t, c.Addrs(), kafkabus.Topics{Prefix: prefix, Replication: 3})
		body(t, conn, topics)
	})
}

// ensureTopics creates chatbus's topics on the brokers at addrs.
func ensureTopics(t testing.TB, addrs []string, topics kafkabus.Topics) (kafkabus.Conn, kafkabus.Topics) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkabus.EnsureTopics(ctx, kadm.NewClient(cl), topics.Specs()); err != nil {
		t.Fatal(err)
	}
	return kafkabus.Conn{Brokers: addrs}, topics
}

func newKafkaClient(t testing.TB, conn kafkabus.Conn, topics kafkabus.Topics, timeout time.Duration) *kafkabus.Client {
	t.Helper()
	c, err := kafkabus.NewClient(kafkabus.ClientConfig{Conn: conn, Topics: topics, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// readEvents feeds the gateway the events published on Kafka, as `chatbus
// frontend` does, once it has found where the topics stand.
func (e *env) readEvents(conn kafkabus.Conn, topics kafkabus.Topics) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sink := &startedSink{Server: e.gw, started: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- kafkabus.Feed{Conn: conn, Topics: topics}.Run(ctx, sink) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("read events: %v", err)
		}
	})
	select {
	case <-sink.started:
	case <-time.After(10 * time.Second):
		e.t.Fatal("the event feed did not start within 10 s")
	}
}

// startedSink tells when the gateway's feed has started.
type startedSink struct {
	*web.Server
	once    sync.Once
	started chan struct{}
}

func (s *startedSink) Start(epoch string, from, until []int64) {
	s.Server.Start(epoch, from, until)
	s.once.Do(func() { close(s.started) })
}

// startBackend runs a backend server over svc, as `chatbus backend` does.
func startBackend(t testing.TB, conn kafkabus.Conn, topics kafkabus.Topics, svc chatbus.Service) {
	t.Helper()
	// A group of its own under the topics' prefix, on a shared cluster.
	srv, err := kafkabus.NewServer(kafkabus.ServerConfig{Conn: conn, Topics: topics, Group: topics.Prefix + "chatbus-backend",
		RetryBackoff: 10 * time.Millisecond}, svc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("backend: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the backend did not stop within 30 s")
		}
	})
}

// localLogin logs in with a local messenger and sends every other call to
// the Kafka client: a gateway whose sessions exist while the backend is down.
type localLogin struct {
	chatbus.Service // the Kafka client, without a backend
	m               *chatbus.Messenger
}

func (l localLogin) LogIn(ctx context.Context, id, pw string) (chatbus.User, error) {
	return l.m.LogIn(ctx, id, pw)
}

// A backend that does not answer gives 503 with the API's error, quickly,
// on every route that needs it.
func TestBackendDown(t *testing.T) {
	t.Parallel()
	conn, topics := startBroker(t)
	const timeout = 300 * time.Millisecond
	client := newKafkaClient(t, conn, topics, timeout)

	prompt := func(t *testing.T, r *result) {
		t.Helper()
		wantError(t, r, http.StatusServiceUnavailable, "unavailable")
		if r.Elapsed > timeout+2*time.Second {
			t.Errorf("%v took %v with a %v timeout", r, r.Elapsed, timeout)
		}
	}

	t.Run("signup and login", func(t *testing.T) {
		e := newEnv(t, web.Config{Service: client})
		b := e.browser()
		s := b.events()
		s.ready()
		prompt(t, b.do("POST", "/api/signup", map[string]string{"userId": "alice", "userPw": password,
			"email": "alice@example.com", "userName": "Alice"}))
		r := b.login("alice", password)
		prompt(t, r)
		if len(r.Cookies) != 0 {
			t.Errorf("a login the backend did not answer set cookies: %v", r.Cookies)
		}
		// The page waiting on the stream learns it too.
		ev := s.next(5 * time.Second)
		data := jsonData(t, ev)
		if ev.Name != "login" || obj(t, data["error"], "error")["code"] != "unavailable" {
			t.Errorf("login event %q %s", ev.Name, ev.Data)
		}
		wantError(t, b.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("logged in", func(t *testing.T) {
		m := newMessenger(t)
		for _, id := range []string{"alice", "bob"} {
			if _, err := m.SignUp(context.Background(), chatbus.SignUp{UserID: id, Password: password,
				Email: id + "@example.com", Name: id}); err != nil {
				t.Fatal(err)
			}
		}
		e := newEnv(t, web.Config{Service: localLogin{client, m}})
		alice := e.loggedIn("alice")
		for _, rt := range authedRoutes(1) {
			if rt.path == "/api/logout" || rt.path == "/api/me" {
				continue
			}
			var body any
			if rt.valid != "" {
				body = rt.valid
			}
			prompt(t, alice.do(rt.method, rt.path, body))
		}
		// What needs no backend still works: who am I, and logging out.
		wantUser(t, wantJSON(t, alice.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")
		r := alice.do("POST", "/api/logout", nil)
		if r.Status != http.StatusNoContent || r.Elapsed > timeout+2*time.Second {
			t.Errorf("logout with the backend down: %v in %v", r, r.Elapsed)
		}
		wantError(t, alice.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	})
}

// The gateway over the real thing: a broker, a backend server, SQLite.
func TestOverKafka(t *testing.T) {
	t.Parallel()
	conn, topics := startBroker(t)
	startBackend(t, conn, topics, newMessenger(t))
	e := newEnv(t, web.Config{Service: newKafkaClient(t, conn, topics, 20*time.Second)})
	for _, id := range []string{"alice", "bob", "carol"} {
		e.signUp(id)
	}
	a := e.browser()
	s := a.events()
	s.ready()
	wantError(t, a.login("alice", "wrong-password"), http.StatusUnauthorized, "unauthenticated")
	wantJSON(t, a.login("alice", password), http.StatusOK)
	for _, want := range []string{"unauthenticated", "alice"} {
		if ev := s.next(10 * time.Second); ev.Name != "login" || !strings.Contains(ev.Data, want) {
			t.Errorf("login event %q %s, want one with %q", ev.Name, ev.Data, want)
		}
	}
	bob, carol := e.loggedIn("bob"), e.loggedIn("carol")

	if u := wantUser(t, wantJSON(t, a.do("PUT", "/api/me/status", map[string]string{"userStatus": "over kafka"}), http.StatusOK)["user"], "alice"); u["userStatus"] != "over kafka" {
		t.Errorf("status %v", u)
	}
	a.befriend("bob")
	friends := arr(t, wantJSON(t, a.do("GET", "/api/friends", nil), http.StatusOK)["friends"], "friends")
	if len(friends) != 1 || obj(t, friends[0], "friend")["userId"] != "bob" {
		t.Errorf("friends %v", friends)
	}
	if f := arr(t, wantJSON(t, carol.do("GET", "/api/friends", nil), http.StatusOK)["friends"], "friends"); len(f) != 0 {
		t.Errorf("carol's friends %v", f)
	}
	room := a.openRoom("", "bob")
	msg := a.post(room, "hello over kafka")
	if msg["writerId"] != "alice" || num(t, msg["seq"], "seq") != 1 {
		t.Errorf("message %v", msg)
	}
	bob.post(room, "hi alice")
	if seqs, writers := bob.history(room, ""); fmt.Sprint(seqs, writers) != "[1 2] [alice bob]" {
		t.Errorf("history %v %v", seqs, writers)
	}
	if seqs, _ := bob.history(room, "?after=0&limit=1"); fmt.Sprint(seqs) != "[1]" {
		t.Errorf("history after=0: %v", seqs)
	}
	rooms := arr(t, wantJSON(t, bob.do("GET", "/api/rooms", nil), http.StatusOK)["rooms"], "rooms")
	if len(rooms) != 1 || wantMessage(t, obj(t, rooms[0], "room")["lastMessage"])["message"] != "hi alice" {
		t.Errorf("bob's rooms %v", rooms)
	}
	// The domain's errors come through the wire as the right statuses.
	path := fmt.Sprintf("/api/rooms/%d/messages", room)
	wantError(t, carol.do("POST", path, map[string]string{"message": "let me in"}), http.StatusForbidden, "forbidden")
	wantError(t, carol.do("GET", path, nil), http.StatusForbidden, "forbidden")
	wantError(t, a.do("GET", "/api/rooms/999999/messages", nil), http.StatusNotFound, "not_found")
	wantError(t, a.do("POST", "/api/friends", map[string]any{"friendIds": []string{"bob"}}), http.StatusConflict, "conflict")
	wantError(t, carol.do("POST", "/api/rooms", map[string]any{"memberIds": []string{"alice"}, "name": "x"}), http.StatusForbidden, "forbidden")

	if r := a.do("POST", "/api/logout", nil); r.Status != http.StatusNoContent {
		t.Errorf("%v", r)
	}
	wantError(t, a.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
}
