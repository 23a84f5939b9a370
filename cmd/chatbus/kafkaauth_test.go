package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/internal/kafkatest"
	"github.com/chatbus/chatbus/kafkabus"
)

// TestKafkaAuth: chatbus run --kafka-auth makes a user per role (and an
// administrator) with its password in a 0600 file, serves only clients that
// log in, and gives each role exactly its rights: the web flow works (the
// backend and the frontend log in as theirs), a raw client with the client's
// credentials drives the backend as kcat does, and a frontend's credentials
// cannot write a response topic. The credentials stay the same across a
// restart.
func TestKafkaAuth(t *testing.T) {
	dir := t.TempDir()
	p := startRun(t, dir, "--kafka-auth")
	p.mu.Lock()
	addr, web := p.kafka, p.web
	p.mu.Unlock()
	conf := map[string][]byte{}
	for _, u := range []string{"admin", "backend", "frontend", "client"} {
		path := filepath.Join(dir, "kafka-auth", u+".conf")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
		}
		conf[u], _ = os.ReadFile(path)
		for _, want := range []string{"security.protocol=SASL_PLAINTEXT", "sasl.mechanisms=SCRAM-SHA-512", "sasl.username=" + u} {
			if !strings.Contains(string(conf[u]), want) {
				t.Errorf("%s lacks %s:\n%s", path, want, conf[u])
			}
		}
	}
	as := func(user string) kafkabus.Conn {
		mech, err := kafkabus.NewSASL("scram-sha-512", user, property(conf[user], "sasl.password"))
		if err != nil {
			t.Fatal(err)
		}
		return kafkabus.Conn{Brokers: []string{addr}, SASL: mech}
	}

	// The web flow: backend and frontend reach the broker as their roles.
	u := newUser(t, web)
	u.call("POST", "/api/signup", map[string]any{"userId": "alice", "userPw": "alice-password", "email": "a@x.io", "userName": "Alice"}, 201)
	u.call("POST", "/api/login", map[string]any{"userId": "alice", "userPw": "alice-password"}, 200)

	// A raw client, with the client's credentials: a request, its reply.
	if err := requestReply(as("client")); err != nil {
		t.Errorf("a raw client with its credentials: %v", err)
	}
	// Without credentials, or with the frontend's on a response topic: no.
	if err := requestReply(kafkabus.Conn{Brokers: []string{addr}}); err == nil {
		t.Error("a client without credentials was served")
	}
	if err := kafkatest.TryWrite(as("frontend"), "login-response"); err == nil {
		t.Error("the frontend's user wrote login-response")
	}
	if err := kafkatest.TryWrite(as("client"), "room-events"); err == nil {
		t.Error("the client's user wrote room-events")
	}

	p.stop(t, syscall.SIGTERM)
	p = p.restart(t)
	p.mu.Lock()
	addr = p.kafka
	p.mu.Unlock()
	if again, _ := os.ReadFile(filepath.Join(dir, "kafka-auth", "client.conf")); string(again) != string(conf["client"]) {
		t.Error("a restart made new credentials")
	}
	if err := requestReply(as("client")); err != nil {
		t.Errorf("a raw client after a restart: %v", err)
	}
}

// requestReply sends a friends request as kcat would and waits for a reply.
func requestReply(conn kafkabus.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(conn.Opts(), kgo.ConsumeTopics("user-search-friend-response"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := &kgo.Record{Topic: "user-search-friend-request", Key: []byte("alice"), Value: []byte(`{"userId":"alice"}`)}
	if err := cl.ProduceSync(ctx, req).FirstErr(); err != nil {
		return err
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return errs[0].Err
		}
		if len(fs.Records()) > 0 {
			return nil
		}
	}
}

// TestKafkaAddrNeedsAuth: the embedded broker does not listen beyond the
// machine without authentication unless told to, and says how.
func TestKafkaAddrNeedsAuth(t *testing.T) {
	for _, sub := range []string{"broker", "run"} {
		_, stderr, code := chatbusCmd(t, []string{"CHATBUS_DATA_DIR=" + t.TempDir()}, sub, "--kafka-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0")
		if sub == "broker" {
			_, stderr, code = chatbusCmd(t, []string{"CHATBUS_DATA_DIR=" + t.TempDir()}, sub, "--kafka-addr", "0.0.0.0:0")
		}
		if code == 0 || !strings.Contains(stderr, "--kafka-auth") || !strings.Contains(stderr, "--kafka-no-auth") {
			t.Errorf("chatbus %s on 0.0.0.0 without auth: exit %d:\n%s", sub, code, stderr)
		}
	}
	for _, flag := range []string{"--kafka-no-auth", "--kafka-auth"} {
		p := startCmd(t, []string{"CHATBUS_DATA_DIR=" + t.TempDir()}, []string{"embedded broker listening"}, "broker", "--kafka-addr", "0.0.0.0:0", flag)
		p.stop(t, syscall.SIGTERM)
	}
	_, stderr, code := chatbusCmd(t, []string{"CHATBUS_DATA_DIR=" + t.TempDir()}, "broker", "--kafka-auth", "--kafka-no-auth")
	if code == 0 || !strings.Contains(stderr, "contradict") {
		t.Errorf("both flags: exit %d:\n%s", code, stderr)
	}
}
