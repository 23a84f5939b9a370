package kafkabus_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
)

// faulty wraps a Service to make chosen calls slow or failing.
type faulty struct {
	chatbus.Service
	signUp func(ctx context.Context, req chatbus.SignUp) (chatbus.User, error)
}

func (f faulty) SignUp(ctx context.Context, req chatbus.SignUp) (chatbus.User, error) {
	if f.signUp != nil {
		return f.signUp(ctx, req)
	}
	return f.Service.SignUp(ctx, req)
}

// TestHugeRequestCannotStopTheBackend: a request whose reply would exceed a
// record's limit is answered with a small error, and the backend goes on.
func TestHugeRequestCannotStopTheBackend(t *testing.T) {
	s := startSystem(t)
	r := newRawCaller(t, s)
	huge := strings.Repeat("<", 180_000)
	rep := r.sendRecord(kafkabus.OpLogin, "x", `{"userId":"`+huge+`","userPw":"x"}`)
	if len(rep.Value) > 1000 || !strings.Contains(string(rep.Value), "UNAUTHENTICATED") {
		t.Fatalf("reply of %d bytes: %.200s", len(rep.Value), rep.Value)
	}
	// History pages are cut down to fit, from the end far from the anchor.
	c, ctx := s.client, context.Background()
	signUp(t, c, "alice")
	signUp(t, c, "bob")
	c.AddFriends(ctx, "alice", []string{"bob"})
	room, _ := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	big := strings.Repeat("가", chatbus.MaxMessageLen) // 3 bytes a rune: 12 KB a message
	for range 100 {
		if _, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: room.ID, WriterID: "alice", Message: big}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.Messages(ctx, "bob", room.ID, chatbus.MessageFilter{Limit: 100})
	if err != nil || len(page) == 0 || len(page) == 100 || page[len(page)-1].Seq != 100 {
		t.Fatalf("a too large newest page: %d messages, %v", len(page), err)
	}
	page, err = c.Messages(ctx, "bob", room.ID, chatbus.MessageFilter{Forward: true, Limit: 100})
	if err != nil || len(page) == 0 || len(page) == 100 || page[0].Seq != 1 {
		t.Fatalf("a too large forward page: %d messages, %v", len(page), err)
	}
	rooms, err := c.Rooms(ctx, "bob")
	if err != nil || len([]rune(rooms[0].LastMessage.Message)) > chatbus.MaxPreviewLen {
		t.Fatalf("the room list holds the whole last message: %v", err)
	}
}

// TestCorrelationIDReuse: one correlation id reused for another request —
// another user's — does not return the first request's result.
func TestCorrelationIDReuse(t *testing.T) {
	s := startSystem(t)
	r := newRawCaller(t, s)
	h := kgo.RecordHeader{Key: "correlation-id", Value: []byte("req-1")}
	r.send(kafkabus.OpSignUp, "a", `{"userId":"a","userPw":"1234","email":"a@x.io","userName":"A"}`)
	r.send(kafkabus.OpSignUp, "b", `{"userId":"b","userPw":"1234","email":"b@x.io","userName":"B"}`)
	first := r.send(kafkabus.OpStatus, "a", `{"userId":"a","userStatus":"a status"}`, h)
	second := r.send(kafkabus.OpStatus, "b", `{"userId":"b","userStatus":"b status"}`, h)
	if first["user"].(map[string]any)["userId"] != "a" || second["user"].(map[string]any)["userId"] != "b" ||
		second["user"].(map[string]any)["userStatus"] != "b status" {
		t.Fatalf("second %v", second)
	}
	// The same request with the same id again is the same answer.
	again := r.send(kafkabus.OpStatus, "a", `{"userId":"a","userStatus":"a status"}`, h)
	if again["user"].(map[string]any)["userStatus"] != "a status" {
		t.Fatalf("again %v", again)
	}
}

// TestSlowPartitionDoesNotHoldOthers: while one sign-up takes seconds,
// requests on other partitions are answered at once.
func TestSlowPartitionDoesNotHoldOthers(t *testing.T) {
	release := make(chan struct{})
	s := startSystem(t, func(s *system) {
		s.wrap = func(svc chatbus.Service) chatbus.Service {
			return faulty{Service: svc, signUp: func(ctx context.Context, req chatbus.SignUp) (chatbus.User, error) {
				if req.UserID == "slow" {
					<-release
				}
				return svc.SignUp(ctx, req)
			}}
		}
	})
	defer close(release)
	signUp(t, s.client, "alice")
	go s.client.SignUp(context.Background(), chatbus.SignUp{UserID: "slow", Password: pw, Email: "s@x.io", Name: "S"})
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	for range 5 {
		if _, err := s.client.Friends(context.Background(), "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("5 friend lists took %v while a sign-up was slow", d)
	}
}

// TestInternalErrorsAreRetriedThenDeadLettered: a request that fails for an
// internal reason is tried again; one that keeps failing is answered with
// INTERNAL and dead-lettered, and the partition goes on.
func TestInternalErrorsAreRetriedThenDeadLettered(t *testing.T) {
	var calls atomic.Int32
	s := startSystem(t, func(s *system) {
		s.retryFor = 500 * time.Millisecond
		s.wrap = func(svc chatbus.Service) chatbus.Service {
			return faulty{Service: svc, signUp: func(ctx context.Context, req chatbus.SignUp) (chatbus.User, error) {
				switch {
				case req.UserID == "flaky" && calls.Add(1) < 3:
					return chatbus.User{}, errors.New("disk I/O error")
				case req.UserID == "broken":
					return chatbus.User{}, errors.New("disk I/O error")
				}
				return svc.SignUp(ctx, req)
			}}
		}
	})
	signUp(t, s.client, "flaky")
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3", calls.Load())
	}
	_, err := s.client.SignUp(context.Background(), chatbus.SignUp{UserID: "broken", Password: pw, Email: "b@x.io", Name: "B"})
	wantCode(t, err, chatbus.CodeInternal, "internal error")
	if strings.Contains(err.Error(), "disk") {
		t.Fatalf("the internal cause leaked: %v", err)
	}
	signUp(t, s.client, "after")
	// A sign-up carries a password: its dead letter holds no value.
	dead := s.waitRecords(t, s.topics.SecretDeadLetter(), 1)
	if len(dead) != 1 || string(dead[0].Key) != "broken" || dead[0].Value != nil {
		t.Fatalf("dead letters: %d", len(dead))
	}
}
