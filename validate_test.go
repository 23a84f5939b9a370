package chatbus_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chatbus/chatbus"
)

// TestInvisibleAndBidiText (issue 12, finding 6): a name or a message with
// nothing visible in it — zero-width and other format characters, Hangul
// fillers, variation selectors, blanks — is refused as "   " is; bidi
// controls, which reorder what is shown around them, are refused in names
// and ids, and in messages and status messages all but the marks that
// right-to-left writing needs (LRM, RLM, ALM).
func TestInvisibleAndBidiText(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "alice", "bob")
	e.befriend(t, "alice", "bob")
	room := e.openRoom(t, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	invisible := []string{"\u200b", "\u200b\u200c\u200d", "\u2060\u2061\u2062\u2063\u2064", "\ufeff", " \u200b ",
		"\u00ad", "\u3164", "\u115f\u1160", "\ufe0f", "\u034f", "\u2800", "\U000e0041", "\u180e"}
	bidi := []string{"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}
	marks := []string{"\u200e", "\u200f", "\u061c"}
	n := 0
	signUp := func(name string) error {
		n++
		req := signUpReq(fmt.Sprintf("u%d", n))
		req.Name = name
		_, err := e.m.SignUp(t.Context(), req)
		return err
	}
	openRoom := func(name string) error {
		_, err := e.m.OpenRoom(t.Context(), chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}, Name: name})
		return err
	}
	post := func(text string) error {
		_, err := e.m.PostMessage(t.Context(), chatbus.PostMessage{RoomID: room.ID, WriterID: "alice", Message: text})
		return err
	}
	clientMsgID := func(id string) error {
		_, err := e.m.PostMessage(t.Context(), chatbus.PostMessage{RoomID: room.ID, WriterID: "alice", Message: "x", ClientMsgID: id})
		return err
	}
	status := func(s string) error {
		_, err := e.m.SetStatus(t.Context(), "alice", s)
		return err
	}
	refused := func(what string, err error, want string) {
		t.Helper()
		if chatbus.ErrorCode(err) != chatbus.CodeInvalid || !strings.Contains(chatbus.ErrorMessage(err), want) {
			t.Errorf("%s: %v, want invalid with %q", what, err, want)
		}
	}
	taken := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	for _, s := range append(append(invisible, bidi...), marks...) {
		req := signUpReq("mailer")
		req.Email = "mail" + s + "er@example.com"
		_, err := e.m.SignUp(t.Context(), req)
		refused("email "+strq(req.Email), err, "holds invisible or control characters")
	}
	for _, s := range invisible {
		refused("userName "+strq(s), signUp(s), "userName has nothing visible")
		refused("roomName "+strq(s), openRoom(s), "roomName has nothing visible")
		refused("message "+strq(s), post(s), "message has nothing visible")
		refused("message "+strq(s+"\n"+s), post(s+"\n"+s), "message has nothing visible")
	}
	for _, s := range append(bidi, marks...) {
		refused("userName "+strq(s), signUp("Al"+s+"ice"), "userName holds a bidirectional control character")
		refused("roomName "+strq(s), openRoom("Ro"+s+"om"), "roomName holds a bidirectional control character")
		refused("clientMsgId "+strq(s), clientMsgID("id"+s), "clientMsgId holds a bidirectional control character")
	}
	for _, s := range bidi {
		refused("message "+strq(s), post("txt"+s+"exe.doc"), "message holds a bidirectional control character")
		refused("userStatus "+strq(s), status("at"+s+"work"), "userStatus holds a bidirectional control character")
	}
	// What people write stays: marks in right-to-left text, joiners inside
	// emoji and scripts that need them, a status cleared to nothing.
	for _, s := range marks {
		taken("message with "+strq(s), post("שלום"+s+"!"))
		taken("status with "+strq(s), status("مرحبا"+s+"!"))
	}
	taken("an emoji sequence", post("👨\u200d👩\u200d👧"))
	taken("a name with a joiner", signUp("क्\u200dष"))
	taken("a name in Hebrew", signUp("דוד"))
	taken("an empty status", status(""))
	refused("a status of a zero-width space", status("\u200b"), "userStatus has nothing visible")
}

func strq(s string) string { return fmt.Sprintf("%+q", s) }
