package kafkabus_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/internal/kafkatest"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/sqlite"
)

// aclCluster starts a broker that wants SASL/SCRAM and checks ACLs, with an
// administrator and one user per role holding exactly the role's rights.
func aclCluster(t *testing.T, topics kafkabus.Topics) (addrs []string, conn func(role string) kafkabus.Conn) {
	t.Helper()
	opts := []kfake.Opt{kfake.EnableSASL(), kfake.EnableACLs(), kfake.Superuser("SCRAM-SHA-512", "admin", "admin-pw")}
	for _, role := range kafkabus.Roles {
		var acls []kfake.ACL
		for _, a := range topics.ACLs(role, "") {
			acls = append(acls, kfake.ACL{Resource: a.Resource, Name: a.Name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: a.Operation, Allow: true})
		}
		opts = append(opts, kfake.User("SCRAM-SHA-512", string(role), string(role)+"-pw", acls...))
	}
	addrs = secureCluster(t, opts...)
	return addrs, func(role string) kafkabus.Conn {
		mech, err := kafkabus.NewSASL("scram-sha-512", role, role+"-pw")
		if err != nil {
			t.Fatal(err)
		}
		return kafkabus.Conn{Brokers: addrs, SASL: mech, Keys: testKeys}
	}
}

// TestRoleACLs: on a broker that checks ACLs, each role does its work with
// exactly the rights kafkabus.Topics.ACLs gives it — a backend creates the
// topics and serves, a frontend calls, hears events and keeps sessions, a
// raw client drives the backend as kcat does — and no more: a frontend
// cannot write a response or event topic, a raw client can neither read
// nor write sessions nor write events, a backend cannot write sessions.
func TestRoleACLs(t *testing.T) {
	topics := kafkabus.Topics{Replication: 1}
	_, conn := aclCluster(t, topics)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The backend: it creates the topics itself.
	back := conn("backend")
	bcl, err := kgo.NewClient(back.Opts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer bcl.Close()
	if err := kafkabus.EnsureTopics(ctx, kadm.NewClient(bcl), topics.Specs()); err != nil {
		t.Fatalf("the backend creates the topics: %v", err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "chatbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m := chatbus.NewMessenger(store, chatbus.NewHasher(fastHash, 4))
	relay, err := kafkabus.NewRelay(back, topics, store)
	if err != nil {
		t.Fatal(err)
	}
	m.Wrote = relay.Poke
	srv, err := kafkabus.NewServer(kafkabus.ServerConfig{Conn: back, Topics: topics}, m)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { relay.Run(runCtx); done <- struct{}{} }()
	go func() { srv.Run(runCtx); done <- struct{}{} }()
	defer func() { stop(); <-done; <-done }()

	// The frontend: calls, events, sessions.
	front := conn("frontend")
	client, err := kafkabus.NewClient(kafkabus.ClientConfig{Conn: front, Topics: topics, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	events := make(chan chatbus.Event, 16)
	go kafkabus.Feed{Conn: front, Topics: topics}.Run(runCtx, sinkFunc(func(ev chatbus.Event) { events <- ev }))
	for _, id := range []string{"alice", "bob"} {
		signUp(t, client, id)
	}
	if _, err := client.LogIn(ctx, "alice", pw); err != nil {
		t.Fatalf("a frontend's login: %v", err)
	}
	if _, err := client.AddFriends(ctx, "alice", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Kind != chatbus.EventFriend || ev.UserID != "bob" {
			t.Fatalf("event %+v, want bob's friend event", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the frontend heard no event")
	}
	sessions, err := kafkabus.NewSessionLog(front, topics, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sessions.Close()
	go sessions.Run(runCtx, func(chatbus.SessionRecord) {})
	if err := sessions.Save(ctx, chatbus.SessionRecord{User: chatbus.User{ID: "alice"}, Created: time.Now(), Seen: time.Now()}); err != nil {
		t.Fatalf("a frontend saves a session: %v", err)
	}
	if err := sessions.Sync(ctx); err != nil {
		t.Fatalf("a frontend reads the sessions: %v", err)
	}

	// The raw client, as kcat: a request, its reply.
	raw := conn("client")
	rcl, err := kgo.NewClient(append(raw.Opts(), kgo.ConsumeTopics(topics.Response(kafkabus.OpFriends)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer rcl.Close()
	req := &kgo.Record{Topic: topics.Request(kafkabus.OpFriends), Key: []byte("alice"), Value: []byte(`{"userId":"alice"}`)}
	if err := rcl.ProduceSync(ctx, req).FirstErr(); err != nil {
		t.Fatalf("a raw client's request: %v", err)
	}
	for got := false; !got; {
		fs := rcl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal("a raw client read no reply")
		}
		fs.EachError(func(topic string, _ int32, err error) { t.Fatalf("a raw client reads %s: %v", topic, err) })
		got = len(fs.Records()) > 0
	}

	// A raw client's unusable requests are dead-lettered with the backend's
	// rights, those of the password topics too: the backend goes on.
	for topic, value := range map[string]string{
		topics.Request(kafkabus.OpLogin): `{"userId":"alice","userPw":12345678}`,
		topics.Request(kafkabus.OpRooms): `{"userId":`,
	} {
		bad := &kgo.Record{Topic: topic, Key: []byte("alice"), Value: []byte(value)}
		if err := rcl.ProduceSync(ctx, bad).FirstErr(); err != nil {
			t.Fatalf("a raw client's request: %v", err)
		}
	}
	for _, dl := range []string{topics.SecretDeadLetter(), topics.DeadLetter()} {
		if !hasRecord(conn("admin"), dl) {
			t.Errorf("no dead letter in %s", dl)
		}
	}

	// And no more.
	for _, tc := range []struct {
		role, topic string
	}{
		{"frontend", topics.Response(kafkabus.OpLogin)},
		{"frontend", topics.Response(kafkabus.OpFriends)},
		{"frontend", topics.RoomEvents()},
		{"frontend", topics.DeadLetter()},
		{"client", topics.Response(kafkabus.OpLogin)},
		{"client", topics.RoomEvents()},
		{"client", topics.UserEvents()},
		{"client", topics.Sessions()},
		{"backend", topics.Sessions()},
		{"backend", topics.Request(kafkabus.OpLogin)},
	} {
		if err := kafkatest.TryWrite(conn(tc.role), tc.topic); err == nil {
			t.Errorf("%s wrote %s", tc.role, tc.topic)
		}
	}
	for _, tc := range []struct {
		role, topic string
	}{
		{"client", topics.Sessions()},
		{"client", topics.RoomEvents()},
		{"client", topics.Request(kafkabus.OpLogin)},
		{"backend", topics.Sessions()},
		{"frontend", topics.Request(kafkabus.OpLogin)},
	} {
		if err := tryRead(conn(tc.role), tc.topic); err == nil {
			t.Errorf("%s read %s", tc.role, tc.topic)
		}
	}
}

// tryRead reads topic from its start, and says why it could not.
func tryRead(conn kafkabus.Conn, topic string) error {
	_, err := readFrom(conn, topic, 5*time.Second)
	return err
}

// hasRecord tells whether topic holds a record, read within 20 s.
func hasRecord(conn kafkabus.Conn, topic string) bool {
	got, err := readFrom(conn, topic, 20*time.Second)
	return got && err == nil
}

// readFrom reads topic from its start for up to wait: got tells whether a
// record came, err why the broker refused (nil when nothing refused it).
func readFrom(conn kafkabus.Conn, topic string, wait time.Duration) (got bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cl, err := kgo.NewClient(append(conn.Opts(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return false, nil
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return false, errs[0].Err
		}
		if len(fs.Records()) > 0 {
			return true, nil
		}
	}
}

// sinkFunc is an event sink that hands events on.
type sinkFunc func(chatbus.Event)

func (sinkFunc) Start(string, []int64, []int64)             {}
func (f sinkFunc) Deliver(_ int, _ int64, ev chatbus.Event) { f(ev) }
