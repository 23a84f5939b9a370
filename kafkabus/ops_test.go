package kafkabus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chatbus/chatbus"
)

const pw = "s3cret-pw"

func signUp(t testing.TB, svc chatbus.Service, id string) chatbus.User {
	t.Helper()
	u, err := svc.SignUp(context.Background(), chatbus.SignUp{UserID: id, Password: pw, Email: id + "@example.com", Name: "User " + strings.ToUpper(id)})
	if err != nil {
		t.Fatalf("sign up %s: %v", id, err)
	}
	return u
}

func wantCode(t *testing.T, err error, code chatbus.Code, contains string) {
	t.Helper()
	if chatbus.ErrorCode(err) != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	if !strings.Contains(chatbus.ErrorMessage(err), contains) {
		t.Fatalf("error message %q does not contain %q", chatbus.ErrorMessage(err), contains)
	}
}

// TestOperations drives every operation through the real broker, backend
// and SQLite file with the Kafka client: each success and each error.
func TestOperations(t *testing.T) {
	s := startSystem(t)
	c, ctx := s.client, context.Background()

	// Sign up.
	alice := signUp(t, c, "Alice")
	if alice.ID != "alice" || alice.Email != "alice@example.com" || alice.JoinedAt.IsZero() {
		t.Fatalf("signed up %+v", alice)
	}
	signUp(t, c, "bob")
	signUp(t, c, "carol")
	_, err := c.SignUp(ctx, chatbus.SignUp{UserID: "alice", Password: pw, Email: "other@example.com", Name: "A"})
	wantCode(t, err, chatbus.CodeConflict, "taken")
	_, err = c.SignUp(ctx, chatbus.SignUp{UserID: "dave", Password: pw, Email: "alice@example.com", Name: "D"})
	wantCode(t, err, chatbus.CodeConflict, "e-mail")
	_, err = c.SignUp(ctx, chatbus.SignUp{UserID: "no spaces", Password: pw, Email: "x@example.com", Name: "X"})
	wantCode(t, err, chatbus.CodeInvalid, "userId")
	_, err = c.SignUp(ctx, chatbus.SignUp{UserID: "eve", Password: pw, Email: "not-an-email", Name: "E"})
	wantCode(t, err, chatbus.CodeInvalid, "email")
	_, err = c.SignUp(ctx, chatbus.SignUp{UserID: "eve", Password: "12", Email: "eve@example.com", Name: "E"})
	wantCode(t, err, chatbus.CodeInvalid, "userPw")

	// Log in and out: wrong id and wrong password are one answer.
	u, err := c.LogIn(ctx, "alice", pw)
	if err != nil || u.LoginAt == nil {
		t.Fatalf("login: %+v, %v", u, err)
	}
	_, errPw := c.LogIn(ctx, "alice", "wrong-password")
	_, errID := c.LogIn(ctx, "nobody", pw)
	wantCode(t, errPw, chatbus.CodeUnauthenticated, "wrong user id or password")
	if errPw.Error() != errID.Error() {
		t.Fatalf("wrong password %q and wrong id %q must answer alike", errPw, errID)
	}
	u, err = c.LogOut(ctx, "alice")
	if err != nil || u.LogoutAt == nil {
		t.Fatalf("logout: %+v, %v", u, err)
	}
	_, err = c.LogOut(ctx, "nobody")
	wantCode(t, err, chatbus.CodeNotFound, "nobody")

	// Status message.
	u, err = c.SetStatus(ctx, "alice", "  at work  ")
	if err != nil || u.Status != "at work" {
		t.Fatalf("status: %+v, %v", u, err)
	}
	_, err = c.SetStatus(ctx, "alice", strings.Repeat("x", chatbus.MaxStatusLen+1))
	wantCode(t, err, chatbus.CodeInvalid, "userStatus")

	// Friends: all or nothing.
	_, err = c.AddFriends(ctx, "alice", []string{"bob", "ghost"})
	wantCode(t, err, chatbus.CodeNotFound, "one or more")
	_, err = c.AddFriends(ctx, "alice", []string{"ghost"})
	wantCode(t, err, chatbus.CodeNotFound, `"ghost"`)
	if fs, _ := c.Friends(ctx, "alice"); len(fs) != 0 {
		t.Fatalf("a failed add left friends %+v", fs)
	}
	_, err = c.AddFriends(ctx, "alice", []string{"alice"})
	wantCode(t, err, chatbus.CodeInvalid, "yourself")
	fs, err := c.AddFriends(ctx, "alice", []string{"bob", "carol"})
	if err != nil || len(fs) != 2 || fs[0].ID != "bob" || fs[0].Name != "User BOB" {
		t.Fatalf("add friends: %+v, %v", fs, err)
	}
	_, err = c.AddFriends(ctx, "alice", []string{"bob"})
	wantCode(t, err, chatbus.CodeConflict, "already friends")
	c.SetStatus(ctx, "bob", "hello")
	fs, err = c.Friends(ctx, "alice")
	if err != nil || len(fs) != 2 || fs[0].Status != "hello" {
		t.Fatalf("friends: %+v, %v", fs, err)
	}
	_, err = c.Friends(ctx, "nobody")
	wantCode(t, err, chatbus.CodeNotFound, "nobody")

	// Rooms: a direct room is reused; a group is new.
	direct, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	if err != nil || !direct.Direct || len(direct.Members) != 2 {
		t.Fatalf("direct room: %+v, %v", direct, err)
	}
	again, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	if err != nil || again.ID != direct.ID {
		t.Fatalf("the direct room was not reused: %d vs %d, %v", again.ID, direct.ID, err)
	}
	// Bob has not added Alice, but their direct room is his too.
	fromBob, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "bob", FriendIDs: []string{"alice"}})
	if err != nil || fromBob.ID != direct.ID {
		t.Fatalf("the direct room from the other side: %+v, %v", fromBob, err)
	}
	group, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob", "carol"}, Name: "Trip"})
	if err != nil || group.ID == direct.ID || group.Name != "Trip" || len(group.Members) != 3 {
		t.Fatalf("group room: %+v, %v", group, err)
	}
	_, err = c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "bob", FriendIDs: []string{"carol"}})
	wantCode(t, err, chatbus.CodeForbidden, "friend list")
	_, err = c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"ghost"}})
	wantCode(t, err, chatbus.CodeForbidden, "ghost") // whether it exists is not told

	// Chats: members only, per-room seq, resend is a no-op.
	m1, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: direct.ID, WriterID: "alice", Message: "hi bob"})
	if err != nil || m1.Seq != 1 || m1.WriterID != "alice" {
		t.Fatalf("post: %+v, %v", m1, err)
	}
	m2, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: direct.ID, WriterID: "bob", Message: "hi!", ClientMsgID: "b-1"})
	if err != nil || m2.Seq != 2 {
		t.Fatalf("post: %+v, %v", m2, err)
	}
	resent, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: direct.ID, WriterID: "bob", Message: "hi!", ClientMsgID: "b-1"})
	if err != nil || resent != m2 {
		t.Fatalf("a resend gave %+v, %v; want the first result %+v", resent, err, m2)
	}
	g1, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: group.ID, WriterID: "carol", Message: "trip!"})
	if err != nil || g1.Seq != 1 {
		t.Fatalf("the group's seq starts at 1: %+v, %v", g1, err)
	}
	_, err = c.PostMessage(ctx, chatbus.PostMessage{RoomID: direct.ID, WriterID: "carol", Message: "let me in"})
	wantCode(t, err, chatbus.CodeForbidden, "not a member")
	_, err = c.PostMessage(ctx, chatbus.PostMessage{RoomID: 999, WriterID: "alice", Message: "anyone?"})
	wantCode(t, err, chatbus.CodeNotFound, "room 999")
	_, err = c.PostMessage(ctx, chatbus.PostMessage{RoomID: direct.ID, WriterID: "ghost", Message: "boo"})
	wantCode(t, err, chatbus.CodeNotFound, "ghost")
	_, err = c.PostMessage(ctx, chatbus.PostMessage{RoomID: direct.ID, WriterID: "alice", Message: "   "})
	wantCode(t, err, chatbus.CodeInvalid, "message")
	crlf, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: group.ID, WriterID: "alice", Message: "line 1\r\nline 2"})
	if err != nil || crlf.Message != "line 1\nline 2" {
		t.Fatalf("CRLF: %q, %v", crlf.Message, err)
	}

	// Room list: newest activity first, with members and the last message.
	rooms, err := c.Rooms(ctx, "alice")
	if err != nil || len(rooms) != 2 || rooms[0].ID != group.ID || rooms[0].LastSeq != 2 || rooms[1].LastMessage == nil || rooms[1].LastMessage.Seq != 2 {
		t.Fatalf("rooms: %+v, %v", rooms, err)
	}
	if rooms, _ := c.Rooms(ctx, "carol"); len(rooms) != 1 {
		t.Fatalf("carol is in one room, got %d", len(rooms))
	}

	// History.
	hist, err := c.Messages(ctx, "bob", direct.ID, chatbus.MessageFilter{})
	if err != nil || len(hist) != 2 || hist[0].Seq != 1 || hist[1].Seq != 2 {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	_, err = c.Messages(ctx, "carol", direct.ID, chatbus.MessageFilter{})
	wantCode(t, err, chatbus.CodeForbidden, "not a member")
}

// TestRepliesHoldNoPassword reads every reply record written during a run
// of all operations: none holds a password or a hash.
func TestRepliesHoldNoPassword(t *testing.T) {
	s := startSystem(t)
	c, ctx := s.client, context.Background()
	signUp(t, c, "alice")
	signUp(t, c, "bob")
	c.LogIn(ctx, "alice", pw)
	c.LogIn(ctx, "alice", "bad-"+pw)
	c.AddFriends(ctx, "alice", []string{"bob"})
	r, _ := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	c.PostMessage(ctx, chatbus.PostMessage{RoomID: r.ID, WriterID: "alice", Message: "hi"})
	c.SetStatus(ctx, "alice", "x")
	c.Friends(ctx, "alice")
	c.Rooms(ctx, "alice")
	c.LogOut(ctx, "alice")

	n := 0
	for _, rec := range s.readAll(t, s.responseTopics()...) {
		n++
		for _, secret := range []string{pw, "$argon2", `"userPw"`, `"password`, "hash"} {
			if strings.Contains(strings.ToLower(string(rec.Value)), strings.ToLower(secret)) {
				t.Errorf("reply on %s holds %q: %s", rec.Topic, secret, rec.Value)
			}
		}
		var st struct {
			IsSuccess    *bool   `json:"isSuccess"`
			ErrorMessage *string `json:"errorMessage"`
			ErrorCode    *string `json:"errorCode"`
		}
		if err := json.Unmarshal(rec.Value, &st); err != nil || st.IsSuccess == nil || st.ErrorMessage == nil || st.ErrorCode == nil {
			t.Errorf("reply on %s lacks isSuccess/errorMessage/errorCode: %s", rec.Topic, rec.Value)
		}
	}
	if n < 11 {
		t.Fatalf("read %d replies, want at least 11", n)
	}
}

func (s *system) responseTopics() []string {
	var out []string
	for _, op := range opsList() {
		out = append(out, s.topics.Response(op))
	}
	return out
}

func ExampleTopics_Name() {
	fmt.Println(kafkabusTopics("chat.").Name("login-request"))
	// Output: chat.login-request
}
