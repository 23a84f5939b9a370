package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/web"
)

// sharingFrontend is a gateway whose sessions live in the sessions topic,
// read by a session log of its own, as `chatbus frontend` runs it.
func sharingFrontend(t testing.TB, conn kafkabus.Conn, topics kafkabus.Topics, cfg web.Config) *env {
	t.Helper()
	log, err := kafkabus.NewSessionLog(conn, topics, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Service, cfg.Sessions = newKafkaClient(t, conn, topics, 20*time.Second), log
	e := newEnv(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { log.Run(ctx, e.gw.ApplySession); close(done) }()
	t.Cleanup(func() { cancel(); <-done; log.Close() })
	e.readEvents(conn, topics)
	return e
}

// TestSessionsOnEveryFrontend: a session made on one frontend is valid at
// once on another, and on one started later (a frontend restarted or
// added); a status change on one shows on the others; a logout on one
// ends the session's streams on the others within a second, and the
// cookie is refused everywhere — also after the session's record is
// written again by someone with the topic's rights (a replay).
func TestSessionsOnEveryFrontend(t *testing.T) {
	conn, topics := startBroker(t)
	startBackend(t, conn, topics, newMessenger(t))
	a, b := sharingFrontend(t, conn, topics, web.Config{}), sharingFrontend(t, conn, topics, web.Config{})
	a.signUp("alice")
	alice := a.loggedIn("alice")
	cookie := alice.cookie("chatbus_session", "/")
	onB := b.browserWithCookie("chatbus_session", cookie)
	wantUser(t, wantJSON(t, onB.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")

	later := sharingFrontend(t, conn, topics, web.Config{})
	onLater := later.browserWithCookie("chatbus_session", cookie)
	wantUser(t, wantJSON(t, onLater.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")

	wantJSON(t, onB.do("PUT", "/api/me/status", map[string]any{"userStatus": "on B"}), http.StatusOK)
	deadline := time.Now().Add(5 * time.Second)
	for {
		u := wantUser(t, wantJSON(t, onLater.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")
		if u["userStatus"] == "on B" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status set on B does not show on another frontend: %v", u)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The session's record as it is now, to replay after the logout.
	records := readTopic(t, conn, topics.Sessions())
	streams := []*eventStream{onB.events(), onLater.events()}
	for _, s := range streams {
		s.ready()
	}
	start := time.Now()
	if r := alice.do("POST", "/api/logout", nil); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %v", r)
	}
	for i, s := range streams {
		if !s.closedWithin(time.Second) {
			t.Fatalf("stream %d on another frontend still open 1 s after the logout", i)
		}
	}
	t.Logf("the other frontends' streams ended %v after the logout", time.Since(start).Round(time.Millisecond))
	replay(t, conn, records)
	fresh := sharingFrontend(t, conn, topics, web.Config{})
	time.Sleep(200 * time.Millisecond) // the replay is read
	for name, e := range map[string]*env{"a": a, "b": b, "later": later, "one started after the logout": fresh} {
		r := e.browserWithCookie("chatbus_session", cookie).do("GET", "/api/me", nil)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("the cookie after logout and a replay of its session, on frontend %s: %v", name, r)
		}
	}
}

// TestForgedSessions: a session record that the bus secret does not sign
// — written by whoever may write the topic — makes no session: the cookie
// whose hash it names is refused.
func TestForgedSessions(t *testing.T) {
	conn, topics := startBroker(t)
	startBackend(t, conn, topics, newMessenger(t))
	e := sharingFrontend(t, conn, topics, web.Config{})
	e.signUp("alice")
	e.loggedIn("alice") // a real session beside
	other, err := kafkabus.NewKeys([]byte("a secret that is not the bus secret, 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	const id = "AAAAAAAAAAAAAAAAAAAAAAAAAA" // the attacker's cookie
	sum := sha256.Sum256([]byte(id))
	now := time.Now().UnixMilli()
	value := []byte(`{"user":{"userId":"alice"},"userAt":` + itoa(now) + `,"createdAt":` + itoa(now) + `,"seenAt":` + itoa(now) + `}`)
	unsigned := &kgo.Record{Topic: topics.Sessions(), Key: []byte("session/" + hex.EncodeToString(sum[:])), Value: value}
	signed := &kgo.Record{Topic: unsigned.Topic, Key: unsigned.Key, Value: value}
	other.Sign(signed)
	replay(t, conn, []*kgo.Record{unsigned, signed})
	for _, fe := range []*env{e, sharingFrontend(t, conn, topics, web.Config{})} {
		if r := fe.browserWithCookie("chatbus_session", id).do("GET", "/api/me", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("a forged session record made a session: %v", r)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// readTopic reads every record now in a topic.
func readTopic(t testing.TB, conn kafkabus.Conn, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(rawClient(t, conn)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cl := rawClient(t, conn, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for {
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			for _, r := range out {
				if r.Partition == o.Partition && r.Offset == o.Offset-1 {
					return
				}
			}
			if o.Offset > 0 {
				done = false
			}
		})
		if done {
			return out
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("the topic was not read to its end")
		}
		out = append(out, fs.Records()...)
	}
}

// replay writes records again, as they were (headers and all).
func replay(t testing.TB, conn kafkabus.Conn, recs []*kgo.Record) {
	t.Helper()
	var again []*kgo.Record
	for _, r := range recs {
		again = append(again, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rawClient(t, conn).ProduceSync(ctx, again...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestSharedSessionExpiry: a session used on one frontend stays alive on
// the others (its use is renewed in the topic, 1% of the idle time but at
// least every second), and idles out everywhere once unused for the idle
// time plus that; the absolute limit holds everywhere.
func TestSharedSessionExpiry(t *testing.T) {
	conn, topics := startBroker(t)
	startBackend(t, conn, topics, newMessenger(t))
	cfg := web.Config{SessionIdle: time.Second}
	a, b := sharingFrontend(t, conn, topics, cfg), sharingFrontend(t, conn, topics, cfg)
	a.signUp("alice")
	onA := a.loggedIn("alice")
	onB := b.browserWithCookie("chatbus_session", onA.cookie("chatbus_session", "/"))
	wantJSON(t, onB.do("GET", "/api/me", nil), http.StatusOK)
	// Used on A for 3.5 s, past B's idle limit (1 s + 1 s): alive on B.
	for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		wantJSON(t, onA.do("GET", "/api/me", nil), http.StatusOK)
	}
	if r := onB.do("GET", "/api/me", nil); r.Status != http.StatusOK {
		t.Fatalf("a session in use on A idled out on B: %v", r)
	}
	time.Sleep(2500 * time.Millisecond) // unused for more than 1 s + 1 s
	for name, br := range map[string]*browser{"A": onA, "B": onB} {
		if r := br.do("GET", "/api/me", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("an idle session on %s: %v", name, r)
		}
	}

	c, d := sharingFrontend(t, conn, topics, web.Config{SessionMax: 1500 * time.Millisecond}), sharingFrontend(t, conn, topics, web.Config{SessionMax: 1500 * time.Millisecond})
	onC := c.loggedIn("alice")
	onD := d.browserWithCookie("chatbus_session", onC.cookie("chatbus_session", "/"))
	wantJSON(t, onD.do("GET", "/api/me", nil), http.StatusOK)
	time.Sleep(1700 * time.Millisecond)
	for name, br := range map[string]*browser{"C": onC, "D": onD} {
		if r := br.do("GET", "/api/me", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("a session past its absolute limit on %s: %v", name, r)
		}
	}
}
