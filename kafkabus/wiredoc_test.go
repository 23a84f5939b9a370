package kafkabus_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
)

var update = flag.Bool("update", false, "rewrite the generated blocks of docs/wire.md")

const wireDoc = "../docs/wire.md"

// wireExample is one request of the documented scenario. Names starting
// with "_" set the scene and are not shown.
type wireExample struct {
	name  string
	op    kafkabus.Operation
	key   string
	value string
}

var wireExamples = []wireExample{
	{"signup", kafkabus.OpSignUp, "a", `{"userId":"a","userPw":"1234","email":"a@naver.com","userName":"user_A"}`},
	{"_signup-b", kafkabus.OpSignUp, "b", `{"userId":"b","userPw":"5678","email":"b@naver.com","userName":"user_B"}`},
	{"_signup-c", kafkabus.OpSignUp, "c", `{"userId":"c","userPw":"9012","email":"c@naver.com","userName":"user_C"}`},
	{"signup-taken", kafkabus.OpSignUp, "a", `{"userId":"a","userPw":"abcd","email":"a2@naver.com","userName":"other"}`},
	{"signup-invalid", kafkabus.OpSignUp, "x y", `{"userId":"x y","userPw":"1234","email":"xy@naver.com","userName":"XY"}`},
	{"login", kafkabus.OpLogin, "a", `{"userId":"a","userPw":"1234"}`},
	{"login-wrong", kafkabus.OpLogin, "a", `{"userId":"a","userPw":"12345"}`},
	{"status", kafkabus.OpStatus, "a", `{"userId":"a","userStatus":"바뀐 status message"}`},
	{"add-friend", kafkabus.OpAddFriends, "a", `{"userId":"a","friendId":["b"]}`},
	{"add-friend-unknown", kafkabus.OpAddFriends, "a", `{"userId":"a","friendId":["c","zed"]}`},
	{"friends", kafkabus.OpFriends, "a", `{"userId":"a"}`},
	{"open-room", kafkabus.OpOpenRoom, "a", `{"userId":"a","friendId":["b"]}`},
	{"open-room-stranger", kafkabus.OpOpenRoom, "a", `{"userId":"a","friendId":["c"]}`},
	{"add-chat", kafkabus.OpAddChat, "a", `{"roomId":1,"writerId":"a","message":"hello, b!","clientMsgId":"a-0001"}`},
	{"add-chat-not-member", kafkabus.OpAddChat, "c", `{"roomId":1,"writerId":"c","message":"let me in"}`},
	{"rooms", kafkabus.OpRooms, "a", `{"userId":"a"}`},
	{"search-chat", kafkabus.OpSearchChats, "b", `{"userId":"b","roomId":1,"after":0,"limit":50}`},
	{"read-chat", kafkabus.OpReadChat, "b", `{"userId":"b","roomId":1,"seq":1}`},
	{"read-chat-negative", kafkabus.OpReadChat, "b", `{"userId":"b","roomId":1,"seq":-1}`},
	{"logout", kafkabus.OpLogout, "a", `"a"`},
	{"poison", kafkabus.OpLogin, "a", `{"userId":"a","userPw":`},
}

// TestWireDoc runs the documented scenario through a real broker and
// backend and checks that docs/wire.md shows exactly the replies it gives,
// that it documents every request field and every error code. Run with
// -update to rewrite the examples after a deliberate change.
func TestWireDoc(t *testing.T) {
	clock := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	s := startSystem(t, func(s *system) {
		s.now = func() time.Time { clock = clock.Add(1234 * time.Millisecond); return clock }
	})
	r := newRawCaller(t, s)
	generated := map[string]string{}
	for _, ex := range wireExamples {
		rep := r.sendRecord(ex.op, ex.key, ex.value)
		if strings.HasPrefix(ex.name, "_") {
			continue
		}
		var pretty bytes.Buffer
		json.Indent(&pretty, rep.Value, "", "  ")
		generated[ex.name] = fmt.Sprintf("Request to `%s`, key `%s`:\n\n```json\n%s\n```\n\nReply on `%s`, key `%s`:\n\n```json\n%s\n```\n",
			s.topics.Request(ex.op), ex.key, ex.value, rep.Topic, rep.Key, pretty.String())
	}
	var codes strings.Builder
	codes.WriteString("| errorCode | meaning |\n|---|---|\n")
	for _, c := range chatbus.Codes {
		fmt.Fprintf(&codes, "| `%s` | %s |\n", kafkabus.WireCode(c), codeMeaning[c])
	}
	generated["error-codes"] = codes.String()

	doc, err := os.ReadFile(wireDoc)
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)<!-- generated: (\S+) -->\n(.*?)<!-- /generated -->`)
	seen := map[string]bool{}
	out := block.ReplaceAllFunc(doc, func(m []byte) []byte {
		sub := block.FindSubmatch(m)
		name := string(sub[1])
		seen[name] = true
		want, ok := generated[name]
		if !ok {
			t.Errorf("docs/wire.md has a block %q that no example generates", name)
			return m
		}
		if string(sub[2]) != want && !*update {
			t.Errorf("docs/wire.md block %q is out of date (go test ./kafkabus -run TestWireDoc -update):\n--- doc\n%s\n--- code\n%s", name, sub[2], want)
		}
		return []byte("<!-- generated: " + name + " -->\n" + want + "<!-- /generated -->")
	})
	for name := range generated {
		if !seen[name] {
			t.Errorf("docs/wire.md lacks the block <!-- generated: %s -->", name)
		}
	}
	if *update {
		if err := os.WriteFile(wireDoc, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Every topic and every request field is documented.
	for _, op := range kafkabus.Operations {
		for _, topic := range []string{op.Request, op.Response} {
			if !bytes.Contains(doc, []byte("`"+topic+"`")) {
				t.Errorf("docs/wire.md does not name the topic %s", topic)
			}
		}
	}
	for _, req := range []any{kafkabus.LoginRequest{}, kafkabus.LogoutRequest{}, kafkabus.UserRequest{}, kafkabus.SignUpRequest{},
		kafkabus.StatusRequest{}, kafkabus.OpenRoomRequest{}, kafkabus.AddChatRequest{}, kafkabus.AddFriendRequest{},
		kafkabus.SearchChatRequest{}, kafkabus.ReadChatRequest{}, chatbus.ReadState{}, chatbus.User{}, chatbus.Friend{}, chatbus.Room{}, chatbus.Member{}, chatbus.Message{}} {
		for _, field := range jsonFields(reflect.TypeOf(req)) {
			if !bytes.Contains(doc, []byte("`"+field+"`")) {
				t.Errorf("docs/wire.md does not document the field %s of %T", field, req)
			}
		}
	}
}

var codeMeaning = map[chatbus.Code]string{
	chatbus.CodeInvalid:         "the request is malformed, misses a field, or breaks a rule (length, format)",
	chatbus.CodeUnauthenticated: "wrong user id or password (the two are not told apart)",
	chatbus.CodeForbidden:       "not allowed: not a member of the room, not on your friend list",
	chatbus.CodeNotFound:        "a user or room does not exist",
	chatbus.CodeConflict:        "exists already: user id, e-mail, friendship",
	chatbus.CodeUnavailable:     "a dependency did not answer in time (callers' side)",
	chatbus.CodeRateLimited:     "too many attempts; try again later (web gateway)",
	chatbus.CodeInternal:        "a failure on the backend's side; details are in its log, never in the reply",
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
