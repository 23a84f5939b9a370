package kafkabus_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/kafkabus"
)

// TestSecretDeadLetters: an unusable request on a topic that carries
// passwords is dead-lettered without its value, whatever shape the
// password takes (the security review's: a number, cut short, in a list,
// nested, under another case or an escaped name, form-encoded), to a
// dead-letter topic of its own that keeps records no longer than the
// request topic does. Its origin, key, error and the value's hash remain.
func TestSecretDeadLetters(t *testing.T) {
	s := startSystem(t)
	r := newRawCaller(t, s)
	shapes := []string{
		`{"userId":"a","userPw":12345678}`,
		`{"userPw":"hunter2-cut`,
		`{"userId":"a","userPw":["hunter2-list"]}`,
		`{"userId":"a","userPw":{"pw":"hunter2-nested"}}`,
		`{"userId":"a","UserPw":"hunter2-case"}`,
		`{"user\u0050w":"hunter2-escaped"}`, // the exact name, escaped; no userId
		`userId=a&userPw=hunter2-form`,
	}
	secrets := []string{"12345678", "hunter2"}
	type sent struct {
		op    kafkabus.Operation
		value string
	}
	var all []sent
	for _, op := range []kafkabus.Operation{kafkabus.OpLogin, kafkabus.OpSignUp} {
		for _, v := range shapes {
			rep := r.send(op, "a", v)
			if rep["isSuccess"] != false || rep["errorCode"] != "INVALID_REQUEST" {
				t.Errorf("%s %s: reply %v, want INVALID_REQUEST", op.Name, v, rep)
			}
			for _, secret := range secrets {
				if strings.Contains(rep["errorMessage"].(string), secret) {
					t.Errorf("%s %s: the reply quotes the password: %v", op.Name, v, rep)
				}
			}
			all = append(all, sent{op, v})
		}
	}
	// A dead letter is written with its reply, but may show after it.
	dead := s.waitRecords(t, s.topics.SecretDeadLetter(), len(all))
	if dead := s.readAll(t, s.topics.DeadLetter()); len(dead) != 0 {
		t.Errorf("the long-kept dead-letter topic holds %d records of password topics", len(dead))
	}
	if len(dead) != len(all) {
		t.Fatalf("%s holds %d records, want %d", s.topics.SecretDeadLetter(), len(dead), len(all))
	}
	for i, d := range dead {
		h := map[string]string{}
		for _, x := range d.Headers {
			h[x.Key] = string(x.Value)
			for _, secret := range secrets {
				if strings.Contains(string(x.Value), secret) {
					t.Errorf("dead letter %d: header %s holds the password", i, x.Key)
				}
			}
		}
		sum := sha256.Sum256([]byte(all[i].value))
		if d.Value != nil || string(d.Key) != "a" || h["dlq-topic"] != s.topics.Request(all[i].op) ||
			h["dlq-partition"] == "" || h["dlq-offset"] == "" || h["dlq-error"] == "" ||
			h["dlq-value-sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("dead letter %d of %s %s: value %q, headers %v", i, all[i].op.Name, all[i].value, d.Value, h)
		}
	}
	// The other topics' dead letters keep the value, for replay.
	r.send(kafkabus.OpRooms, "a", `{"userId":`, kgo.RecordHeader{Key: "correlation-id", Value: []byte("x")})
	if dead := s.waitRecords(t, s.topics.DeadLetter(), 1); len(dead) != 1 || string(dead[0].Value) != `{"userId":` {
		t.Errorf("dead letters of a topic without passwords: %v", dead)
	}
}

// TestSecretDeadLetterRetention: the dead letters of the password topics
// are kept as long as those topics keep records, the others' 30 days.
func TestSecretDeadLetterRetention(t *testing.T) {
	topics := kafkabus.Topics{Prefix: "r."}
	retention := map[string]string{}
	for _, sp := range topics.Specs() {
		retention[sp.Name] = *sp.Configs["retention.ms"]
	}
	secret, long := retention["r."+kafkabus.SecretDeadLetterName], retention["r.dead-letter"]
	if secret != "3600000" || secret != retention["r.login-request"] || secret != retention["r.user-add-request"] || long != "2592000000" {
		t.Fatalf("retention: secret dead letters %s, login %s, sign-up %s, dead letters %s", secret,
			retention["r.login-request"], retention["r.user-add-request"], long)
	}
	for _, op := range kafkabus.Operations {
		if want := op == kafkabus.OpLogin || op == kafkabus.OpSignUp; op.Secret != want {
			t.Errorf("%s: Secret is %v", op.Name, op.Secret)
		}
	}
}

// waitRecords reads topic until it holds n records, for 10 s at most.
func (s *system) waitRecords(t *testing.T, topic string, n int) []*kgo.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := s.readAll(t, topic)
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(50 * time.Millisecond)
	}
}
