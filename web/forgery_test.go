package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/web"
)

// heldLogin holds every login until release is closed, so that forged
// replies are surely read before the backend's own.
type heldLogin struct {
	chatbus.Service
	release chan struct{}
}

func (h heldLogin) LogIn(ctx context.Context, id, pw string) (chatbus.User, error) {
	select {
	case <-h.release:
	case <-time.After(10 * time.Second):
	}
	return h.Service.LogIn(ctx, id, pw)
}

// rawClient is a Kafka client with no bus secret: what anyone who reaches
// the broker has.
func rawClient(t testing.TB, conn kafkabus.Conn, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(conn.Brokers...), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestForgedRepliesDoNotLogIn is issue 12's finding 2, as the review did it:
// a Kafka client watches login-request and, when a web login for alice with
// a wrong password appears, answers it with its correlation id — on another
// operation's response topic, unsigned, signed with another secret, with a
// genuine signature of another reply, and as a genuinely signed reply of
// another operation. None of it logs in; the backend's own answer does.
func TestForgedRepliesDoNotLogIn(t *testing.T) {
	conn, topics := startBroker(t)
	release := make(chan struct{})
	startBackend(t, conn, topics, heldLogin{newMessenger(t), release})
	reg := prometheus.NewRegistry()
	client, err := kafkabus.NewClient(kafkabus.ClientConfig{Conn: conn, Topics: topics, Timeout: 20 * time.Second,
		Metrics: kafkabus.NewClientMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	e := newEnv(t, web.Config{Service: client})
	e.signUp("alice")

	watcher := rawClient(t, conn, kgo.ConsumeTopics(topics.Request(kafkabus.OpLogin)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	other, err := kafkabus.NewKeys([]byte("a secret that is not the bus secret, 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	forged := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			for _, r := range watcher.PollFetches(ctx).Records() {
				if !strings.Contains(string(r.Value), "wrong password") {
					continue
				}
				forged <- forgeLogin(t, watcher, topics, r, other)
				time.Sleep(200 * time.Millisecond) // the client reads them first
				close(release)
				return
			}
		}
	}()
	r := e.browser().login("alice", "wrong password")
	n := <-forged
	if r.Status != http.StatusUnauthorized || len(r.Cookies) != 0 {
		t.Fatalf("a login with a wrong password and %d forged replies: %v, cookies %v; want 401 and none", n, r, r.Cookies)
	}
	login, friends := topics.Response(kafkabus.OpLogin), topics.Response(kafkabus.OpFriends)
	for _, c := range []struct {
		topic, reason string
		want          float64
	}{{friends, "unsigned", 1}, {login, "unsigned", 1}, {login, "bad_signature", 2}, {friends, "wrong_topic", 1}} {
		got := metric(t, reg, "chatbus_frontend_replies_refused_total", map[string]string{"topic": c.topic, "reason": c.reason})
		if got != c.want {
			t.Errorf("%v replies on %s refused as %s, want %v", got, c.topic, c.reason, c.want)
		}
	}
	if n != 5 {
		t.Errorf("%d forgeries written, want 5", n)
	}
}

// forgeLogin answers the login request req with successful logins for
// alice, in every way a writer of the response topics without the bus
// secret could, and returns how many it wrote.
func forgeLogin(t testing.TB, cl *kgo.Client, topics kafkabus.Topics, req *kgo.Record, other *kafkabus.Keys) int {
	corr := ""
	for _, h := range req.Headers {
		if h.Key == kafkabus.HeaderCorrelationID {
			corr = string(h.Value)
		}
	}
	value, _ := json.Marshal(map[string]any{"userId": "alice", "isSuccess": true, "errorMessage": "", "errorCode": "",
		"user": map[string]any{"userId": "alice", "email": "alice@example.com", "userName": "Alice"}})
	rec := func(topic, corrID string) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte("alice"), Value: value,
			Headers: []kgo.RecordHeader{{Key: kafkabus.HeaderCorrelationID, Value: []byte(corrID)}}}
	}
	login, friends := topics.Response(kafkabus.OpLogin), topics.Response(kafkabus.OpFriends)
	var recs []*kgo.Record
	// The review's reproduction: unsigned, on another operation's topic.
	recs = append(recs, rec(friends, corr), rec(login, corr))
	// Signed with a secret that is not the bus secret.
	wrong := rec(login, corr)
	other.Sign(wrong)
	recs = append(recs, wrong)
	// A genuine signature, of a reply to another request: replayed.
	replay := rec(login, "another correlation id")
	testKeys.Sign(replay)
	replay.Headers[0].Value = []byte(corr)
	recs = append(recs, replay)
	// Genuinely signed, but the reply of another operation.
	moved := rec(friends, corr)
	testKeys.Sign(moved)
	recs = append(recs, moved)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Error(err)
	}
	return len(recs)
}

// TestForgedEventsAreNotPushed is issue 12's finding 3: a record written to
// room-events by someone without the bus secret, a message "from bob" with
// a high seq, is neither pushed to the members nor does it silence the
// room: bob's real message, seq 1, arrives.
func TestForgedEventsAreNotPushed(t *testing.T) {
	conn, topics, alice, bob, room := roomOverKafka(t)
	stream := alice.events()
	stream.ready()

	other, err := kafkabus.NewKeys([]byte("a secret that is not the bus secret, 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	fake := func(seq int) *kgo.Record {
		v, _ := json.Marshal(map[string]any{"kind": "message", "roomId": room, "to": []string{"alice", "bob"},
			"data": map[string]any{"roomId": room, "seq": seq, "writerId": "bob", "message": "FAKE", "createdAt": time.Now()}})
		return &kgo.Record{Topic: topics.RoomEvents(), Key: []byte(strconv.FormatInt(room, 10)), Value: v}
	}
	signed := fake(100001)
	other.Sign(signed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rawClient(t, conn).ProduceSync(ctx, fake(100000), signed).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the feed reads them first
	bob.post(room, "real")
	for {
		ev := stream.next(5 * time.Second)
		if ev.Name != "message" {
			continue // the room opened, heartbeats
		}
		data := eventData(t, ev)
		if data["message"] != "real" || num(t, data["seq"], "seq") != 1 {
			t.Fatalf("alice was pushed %v, want bob's real message, seq 1", data)
		}
		break
	}
	stream.quiet(300 * time.Millisecond)
}
