package kafkabus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/kafkabus"
)

// rawCaller sends requests as kcat does — JSON, keyed by user id, no
// headers — and reads replies from the response topic by key.
type rawCaller struct {
	t  *testing.T
	s  *system
	cl *kgo.Client
}

func newRawCaller(t *testing.T, s *system) *rawCaller {
	var topics []string
	for _, op := range kafkabus.Operations {
		topics = append(topics, s.topics.Response(op))
	}
	cl := s.kgo(kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	t.Cleanup(cl.Close)
	// Make sure the consumer has resolved "the end" before anything is sent.
	cl.PollFetches(ctxTimeout(t, 200*time.Millisecond))
	return &rawCaller{t: t, s: s, cl: cl}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// send produces value to op's request topic and returns the next reply on
// its response topic, decoded as a generic JSON object.
func (r *rawCaller) send(op kafkabus.Operation, key, value string, headers ...kgo.RecordHeader) map[string]any {
	r.t.Helper()
	return decodeReply(r.t, r.sendRecord(op, key, value, headers...))
}

// sendRecord is send, returning the reply record itself.
func (r *rawCaller) sendRecord(op kafkabus.Operation, key, value string, headers ...kgo.RecordHeader) *kgo.Record {
	r.t.Helper()
	rec := &kgo.Record{Topic: r.s.topics.Request(op), Key: []byte(key), Value: []byte(value), Headers: headers}
	if err := r.cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		r.t.Fatal(err)
	}
	return r.read(r.s.topics.Response(op))
}

func decodeReply(t *testing.T, rec *kgo.Record) map[string]any {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(rec.Value, &got); err != nil {
		t.Fatalf("reply is not JSON: %s", rec.Value)
	}
	return got
}

// nextAny returns the next reply on any response topic.
func (r *rawCaller) nextAny() map[string]any {
	r.t.Helper()
	return decodeReply(r.t, r.read(""))
}

// read returns the next reply record, which must be on topic unless "".
func (r *rawCaller) read(topic string) *kgo.Record {
	r.t.Helper()
	ctx := ctxTimeout(r.t, 20*time.Second)
	for {
		fs := r.cl.PollRecords(ctx, 1)
		if ctx.Err() != nil {
			r.t.Fatalf("no reply on %q", topic)
		}
		var got *kgo.Record
		fs.EachRecord(func(rec *kgo.Record) {
			if topic != "" && rec.Topic != topic {
				r.t.Fatalf("unexpected reply on %s: %s", rec.Topic, rec.Value)
			}
			got = rec
		})
		if got != nil {
			return got
		}
	}
}

// TestSeedLoginWithPlainRecords is the seed's own check, as kcat does it:
// a sign-up and a login as plain JSON records, the login reply read from
// login-response: isSuccess true and the user, with no password field.
func TestSeedLoginWithPlainRecords(t *testing.T) {
	s := startSystem(t)
	r := newRawCaller(t, s)
	rep := r.send(kafkabus.OpSignUp, "a", `{"userId":"a","userPw":"1234","email":"a@naver.com","userName":"user_A"}`)
	if rep["isSuccess"] != true {
		t.Fatalf("sign-up: %v", rep)
	}
	rep = r.send(kafkabus.OpLogin, "a", `{"userId":"a","userPw":"1234"}`)
	user, _ := rep["user"].(map[string]any)
	if rep["isSuccess"] != true || rep["errorMessage"] != "" || rep["userId"] != "a" || user["userName"] != "user_A" {
		t.Fatalf("login: %v", rep)
	}
	for k := range user {
		if strings.Contains(strings.ToLower(k), "pw") || strings.Contains(strings.ToLower(k), "password") {
			t.Fatalf("the user in the reply has a %q field: %v", k, user)
		}
	}
	if _, err := time.Parse(time.RFC3339, user["loginDate"].(string)); err != nil {
		t.Fatalf("loginDate is not ISO-8601: %v", user["loginDate"])
	}
	rep = r.send(kafkabus.OpLogin, "a", `{"userId":"a","userPw":"12345"}`)
	if rep["isSuccess"] != false || rep["errorMessage"] != "wrong user id or password" || rep["errorCode"] != "UNAUTHENTICATED" || rep["user"] != nil {
		t.Fatalf("wrong password: %v", rep)
	}
	// The seed's logout sends the id as a bare JSON string.
	rep = r.send(kafkabus.OpLogout, "a", `"a"`)
	if rep["isSuccess"] != true {
		t.Fatalf("logout: %v", rep)
	}
	// A single friend id is taken as a list of one.
	r.send(kafkabus.OpSignUp, "b", `{"userId":"b","userPw":"1234","email":"b@naver.com","userName":"user_B"}`)
	rep = r.send(kafkabus.OpAddFriends, "a", `{"userId":"a","friendId":"b"}`)
	if rep["isSuccess"] != true || len(rep["friends"].([]any)) != 1 {
		t.Fatalf("add friend: %v", rep)
	}
}

// TestPoisonRecords: a record that is not JSON, or lacks a required field,
// is answered with an error, copied to the dead-letter topic with its
// origin, and the partition moves on to the next request.
func TestPoisonRecords(t *testing.T) {
	s := startSystem(t)
	r := newRawCaller(t, s)
	cases := []struct {
		op    kafkabus.Operation
		value string
		want  string
	}{
		{kafkabus.OpLogin, `not json at all`, "not a valid JSON request"},
		{kafkabus.OpLogin, `{"userId":"a"}`, "missing required field(s): userPw"},
		{kafkabus.OpSignUp, `{"userId":"a","userPw":"1234"} {"x":1}`, "more than one JSON value"},
		{kafkabus.OpRooms, `{"userId":"a"}}`, "more than one JSON value"},
		{kafkabus.OpAddChat, `{"roomId":"one","writerId":"a","message":"x"}`, "not a valid JSON request"},
		{kafkabus.OpAddChat, `{"writerId":"a"}`, "roomId, message"},
		{kafkabus.OpStatus, `{"userId":"a"}`, "userStatus"},
		{kafkabus.OpLogout, `42`, "not a valid JSON request"},
		{kafkabus.OpAddFriends, `{"userId":"a","friendId":[1,2]}`, "not a valid JSON request"},
		{kafkabus.OpRooms, ``, "not a valid JSON request"},
		{kafkabus.OpReadChat, `{"userId":"a","roomId":1}`, "missing required field(s): seq"},
		{kafkabus.OpReadChat, `{"userId":"a","roomId":1,"seq":"2"}`, "seq must be a whole number"},
		{kafkabus.OpReadChat, `{"userId":"a","roomId":1.0,"seq":2}`, "roomId must be a whole number"},
		{kafkabus.OpReadChat, `{"userId":"a","roomId":1,"seq":1.5}`, "seq must be a whole number"},
		// Field names are exact and given once (encoding/json alone takes both).
		{kafkabus.OpStatus, `{"USERID":"a","userStatus":"x"}`, `field names are case-sensitive: write "userId"`},
		{kafkabus.OpRooms, `{"userId":"a","userId":"b"}`, `"userId" is given twice`},
		{kafkabus.OpLogout, `{"UserId":"a"}`, `field names are case-sensitive: write "userId"`},
		{kafkabus.OpLogout, `{"userId":"a","userId":"b"}`, `is given twice`},
	}
	for _, c := range cases {
		rep := r.send(c.op, "a", c.value, kgo.RecordHeader{Key: "correlation-id", Value: []byte("poison-" + c.op.Name)})
		if rep["isSuccess"] != false || rep["errorCode"] != "INVALID_REQUEST" || !strings.Contains(rep["errorMessage"].(string), c.want) {
			t.Errorf("%s %q: reply %v, want INVALID_REQUEST containing %q", c.op.Name, c.value, rep, c.want)
		}
	}
	// The partition is not stalled: a valid request right after is served.
	if rep := r.send(kafkabus.OpSignUp, "a", `{"userId":"a","userPw":"1234","email":"a@naver.com","userName":"A"}`); rep["isSuccess"] != true {
		t.Fatalf("after poison: %v", rep)
	}
	// Dead letters of the password topics hold no value (TestSecretDeadLetters).
	var plain, secret []int
	for i, c := range cases {
		if c.op.Secret {
			secret = append(secret, i)
		} else {
			plain = append(plain, i)
		}
	}
	for _, topic := range []struct {
		name  string
		cases []int
	}{{s.topics.DeadLetter(), plain}, {s.topics.SecretDeadLetter(), secret}} {
		dead := s.readAll(t, topic.name)
		if len(dead) != len(topic.cases) {
			t.Fatalf("%s holds %d records, want %d", topic.name, len(dead), len(topic.cases))
		}
		for j, d := range dead {
			i := topic.cases[j]
			h := map[string]string{}
			for _, x := range d.Headers {
				h[x.Key] = string(x.Value)
			}
			wantValue := cases[i].value
			if cases[i].op.Secret {
				wantValue = ""
			}
			if string(d.Value) != wantValue || h["dlq-topic"] != s.topics.Request(cases[i].op) || h["dlq-offset"] == "" ||
				h["dlq-partition"] == "" || !strings.Contains(h["dlq-error"], cases[i].want) || h["correlation-id"] != "poison-"+cases[i].op.Name {
				t.Errorf("dead letter %d: %q %v", i, d.Value, h)
			}
		}
	}
}

// TestRedeliveryIsAnsweredNotRedone rewinds the backend group to the start
// of every request topic — what a crash between the work and the commit
// does — and checks that every request is answered again, identically,
// without being done twice.
func TestRedeliveryIsAnsweredNotRedone(t *testing.T) {
	s := startSystem(t)
	r := newRawCaller(t, s)
	var first []map[string]any
	send := func(op kafkabus.Operation, key, v string, corr string) {
		var hs []kgo.RecordHeader
		if corr != "" {
			hs = append(hs, kgo.RecordHeader{Key: "correlation-id", Value: []byte(corr)})
		}
		first = append(first, r.send(op, key, v, hs...))
	}
	send(kafkabus.OpSignUp, "a", `{"userId":"a","userPw":"1234","email":"a@x.io","userName":"A"}`, "")
	send(kafkabus.OpSignUp, "b", `{"userId":"b","userPw":"1234","email":"b@x.io","userName":"B"}`, "c-2")
	send(kafkabus.OpSignUp, "c", `{"userId":"c","userPw":"1234","email":"c@x.io","userName":"C"}`, "")
	send(kafkabus.OpAddFriends, "a", `{"userId":"a","friendId":["b","c"]}`, "")
	send(kafkabus.OpOpenRoom, "a", `{"userId":"a","friendId":["b","c"],"roomName":"g"}`, "c-5")
	send(kafkabus.OpAddChat, "a", `{"roomId":1,"writerId":"a","message":"one"}`, "")
	send(kafkabus.OpAddChat, "a", `{"roomId":1,"writerId":"a","message":"two"}`, "c-7")
	for i, rep := range first {
		if rep["isSuccess"] != true {
			t.Fatalf("request %d: %v", i, rep)
		}
	}

	// Stop the backend, rewind its group, start it again.
	if err := s.stopBackend(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(s.kgo())
	defer adm.Close()
	ctx := context.Background()
	starts, err := adm.ListStartOffsets(ctx, s.topicsOf(true)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CommitOffsets(ctx, "chatbus-backend", starts.Offsets()); err != nil {
		t.Fatal(err)
	}
	s.startBackend()

	// Replies of different partitions come in any order: compare as sets.
	want := map[string]int{}
	for _, rep := range first {
		b, _ := json.Marshal(rep)
		want[string(b)]++
	}
	for range first {
		b, _ := json.Marshal(r.nextAny())
		if want[string(b)] == 0 {
			t.Errorf("a redelivered request answered %s, unlike its first answer", b)
		}
		want[string(b)]--
	}
	hist, err := s.client.Messages(ctx, "a", 1, chatBusFilter())
	if err != nil || len(hist) != 2 {
		t.Fatalf("history after redelivery: %d messages (%v), want 2", len(hist), err)
	}
	rooms, _ := s.client.Rooms(ctx, "a")
	if len(rooms) != 1 {
		t.Fatalf("rooms after redelivery: %d, want 1", len(rooms))
	}
}

// topicsOf returns the request (true) or response (false) topics.
func (s *system) topicsOf(requests bool) []string {
	var out []string
	for _, op := range kafkabus.Operations {
		if requests {
			out = append(out, s.topics.Request(op))
		} else {
			out = append(out, s.topics.Response(op))
		}
	}
	return out
}

// TestSignUpThenLoginBackToBack: a sign-up and a login produced one after
// the other, without waiting for the first reply — as two kcat commands in a
// row do — log in, though the two topics are not ordered with each other.
func TestSignUpThenLoginBackToBack(t *testing.T) {
	s := startSystem(t)
	r := newRawCaller(t, s)
	ctx := context.Background()
	// Right after a backend takes its partitions, it may read the login
	// before the sign-up it follows (each partition's position is found on
	// its own): that window is documented, and not what this test is about.
	// A first sign-up answered means the sign-up partitions are being read.
	signUp(t, s.client, "warm")
	for i := range 10 {
		id := fmt.Sprintf("u%d", i)
		signup := &kgo.Record{Topic: s.topics.Request(kafkabus.OpSignUp), Key: []byte(id),
			Value: []byte(`{"userId":"` + id + `","userPw":"1234","email":"` + id + `@x.io","userName":"U"}`)}
		login := &kgo.Record{Topic: s.topics.Request(kafkabus.OpLogin), Key: []byte(id),
			Value: []byte(`{"userId":"` + id + `","userPw":"1234"}`)}
		for _, rec := range []*kgo.Record{signup, login} {
			if err := r.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 { // the two replies, in either order
			rec := r.read("")
			if rep := decodeReply(t, rec); rep["isSuccess"] != true {
				t.Fatalf("%s right after sign-up: %v", rec.Topic, rep)
			}
		}
	}
}
