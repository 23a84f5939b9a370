package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatbus/chatbus/web"
)

// world is a gateway with alice, bob and carol signed up; alice and bob
// are friends of each other and share a direct room; carol is in no room.
type world struct {
	*env
	alice, bob, carol *browser
	room              int64
}

func newWorld(t *testing.T, cfg web.Config) *world {
	t.Helper()
	e := newEnv(t, cfg)
	for _, id := range []string{"alice", "bob", "carol"} {
		e.signUp(id)
	}
	w := &world{env: e, alice: e.loggedIn("alice"), bob: e.loggedIn("bob"), carol: e.loggedIn("carol")}
	w.alice.befriend("bob")
	w.bob.befriend("alice")
	w.room = w.alice.openRoom("", "bob")
	return w
}

func TestSignUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	b := e.browser()
	r := b.do("POST", "/api/signup", map[string]string{"userId": "Alice", "userPw": password,
		"email": "alice@example.com", "userName": "Alice Liddell"})
	m := wantJSON(t, r, http.StatusCreated)
	wantKeys(t, "sign-up answer", m, "user")
	u := wantUser(t, m["user"], "alice")
	if u["email"] != "alice@example.com" || u["userName"] != "Alice Liddell" || u["userStatus"] != "" {
		t.Errorf("user %v", u)
	}
	if u["loginDate"] != nil || u["logoutDate"] != nil {
		t.Errorf("a new user has login or logout dates: %v", u)
	}
	if strings.Contains(string(r.Body), password) || strings.Contains(string(r.Body), "argon2") {
		t.Errorf("the answer holds the password or its hash: %s", r.Body)
	}
	// The user exists: the password works.
	wantJSON(t, e.browser().login("alice", password), http.StatusOK)

	t.Run("taken", func(t *testing.T) {
		r := b.do("POST", "/api/signup", map[string]string{"userId": "alice", "userPw": password,
			"email": "other@example.com", "userName": "Other"})
		wantError(t, r, http.StatusConflict, "conflict")
	})
	t.Run("short password", func(t *testing.T) {
		r := b.do("POST", "/api/signup", map[string]string{"userId": "shorty", "userPw": "1234567",
			"email": "shorty@example.com", "userName": "Shorty"})
		wantError(t, r, http.StatusBadRequest, "invalid")
		wantError(t, e.browser().login("shorty", "1234567"), http.StatusUnauthorized, "unauthenticated")
	})
	t.Run("bad email", func(t *testing.T) {
		r := b.do("POST", "/api/signup", map[string]string{"userId": "mallory", "userPw": password,
			"email": "not-an-address", "userName": "Mallory"})
		wantError(t, r, http.StatusBadRequest, "invalid")
	})
	t.Run("missing fields", func(t *testing.T) {
		wantError(t, b.do("POST", "/api/signup", map[string]string{"userPw": password}), http.StatusBadRequest, "invalid")
	})
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	b := e.browser()
	r := b.login(" Alice ", password)
	m := wantJSON(t, r, http.StatusOK)
	wantKeys(t, "login answer", m, "user")
	u := wantUser(t, m["user"], "alice")
	wantTime(t, u["loginDate"], "loginDate")
	if len(r.Cookies) != 1 || r.Cookies[0].Value == "" {
		t.Fatalf("login set the cookies %v, want one session cookie", r.Cookies)
	}
	wantUser(t, wantJSON(t, b.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")

	// A wrong password and an unknown user get the same answer, and no session.
	wrong := e.browser()
	r1 := wrong.login("alice", "wrong-password")
	wantError(t, r1, http.StatusUnauthorized, "unauthenticated")
	r2 := wrong.login("nobody", password)
	wantError(t, r2, http.StatusUnauthorized, "unauthenticated")
	if string(r1.Body) != string(r2.Body) {
		t.Errorf("a wrong password (%s) and an unknown user (%s) are told apart", r1.Body, r2.Body)
	}
	if len(r1.Cookies)+len(r2.Cookies) != 0 {
		t.Errorf("a failed login set cookies: %v %v", r1.Cookies, r2.Cookies)
	}
	wantError(t, wrong.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
}

func TestMeAndStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	e.signUp("bob")
	alice, bob := e.loggedIn("alice"), e.loggedIn("bob")

	m := wantJSON(t, alice.do("GET", "/api/me", nil), http.StatusOK)
	wantKeys(t, "me", m, "user")
	wantUser(t, m["user"], "alice")

	m = wantJSON(t, alice.do("PUT", "/api/me/status", map[string]string{"userStatus": "on holiday"}), http.StatusOK)
	wantKeys(t, "status answer", m, "user")
	if u := wantUser(t, m["user"], "alice"); u["userStatus"] != "on holiday" {
		t.Errorf("status answer %v", u)
	}
	if u := wantUser(t, wantJSON(t, alice.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice"); u["userStatus"] != "on holiday" {
		t.Errorf("GET /api/me after a status change: %v", u)
	}
	// Bob's status did not change, and bob sees alice's.
	if u := wantUser(t, wantJSON(t, bob.do("GET", "/api/me", nil), http.StatusOK)["user"], "bob"); u["userStatus"] != "" {
		t.Errorf("bob's status changed: %v", u)
	}
	bob.befriend("alice")
	friends := arr(t, wantJSON(t, bob.do("GET", "/api/friends", nil), http.StatusOK)["friends"], "friends")
	if len(friends) != 1 || obj(t, friends[0], "friend")["userStatus"] != "on holiday" {
		t.Errorf("bob's friends: %v", friends)
	}

	wantError(t, alice.do("PUT", "/api/me/status", map[string]string{"userStatus": strings.Repeat("x", 151)}),
		http.StatusBadRequest, "invalid")
	wantError(t, alice.do("PUT", "/api/me/status", `{}`), http.StatusBadRequest, "invalid")
	wantError(t, alice.do("PUT", "/api/me/status", `{"userStatus":null}`), http.StatusBadRequest, "invalid")
	// Clearing the status is allowed.
	if u := wantUser(t, wantJSON(t, alice.do("PUT", "/api/me/status", map[string]string{"userStatus": ""}), http.StatusOK)["user"], "alice"); u["userStatus"] != "" {
		t.Errorf("cleared status: %v", u)
	}
}

func TestFriends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	for _, id := range []string{"alice", "bob", "carol"} {
		e.signUp(id)
	}
	alice := e.loggedIn("alice")

	r := alice.do("GET", "/api/friends", nil)
	m := wantJSON(t, r, http.StatusOK)
	wantKeys(t, "friends answer", m, "friends")
	if len(arr(t, m["friends"], "friends")) != 0 {
		t.Fatalf("a new user has friends: %s", r.Body)
	}

	m = wantJSON(t, alice.do("POST", "/api/friends", map[string]any{"friendIds": []string{"bob", "Carol"}}), http.StatusOK)
	wantKeys(t, "add-friends answer", m, "friends")
	friends := arr(t, m["friends"], "friends")
	if len(friends) != 2 {
		t.Fatalf("friends %v", friends)
	}
	for i, want := range []string{"bob", "carol"} {
		f := obj(t, friends[i], "friend")
		wantKeys(t, "friend", f, "userId", "userName", "userStatus")
		if f["userId"] != want {
			t.Errorf("friend %d is %v, want %s", i, f, want)
		}
	}
	friends = arr(t, wantJSON(t, alice.do("GET", "/api/friends", nil), http.StatusOK)["friends"], "friends")
	if len(friends) != 2 {
		t.Errorf("GET /api/friends after adding two: %v", friends)
	}

	wantError(t, alice.do("POST", "/api/friends", map[string]any{"friendIds": []string{"nobody"}}), http.StatusNotFound, "not_found")
	wantError(t, alice.do("POST", "/api/friends", map[string]any{"friendIds": []string{"bob"}}), http.StatusConflict, "conflict")
	wantError(t, alice.do("POST", "/api/friends", map[string]any{"friendIds": []string{"alice"}}), http.StatusBadRequest, "invalid")
	wantError(t, alice.do("POST", "/api/friends", map[string]any{"friendIds": []string{}}), http.StatusBadRequest, "invalid")
}

func TestRooms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	for _, id := range []string{"alice", "bob", "carol", "dave"} {
		e.signUp(id)
	}
	alice, bob, carol := e.loggedIn("alice"), e.loggedIn("bob"), e.loggedIn("carol")
	alice.befriend("bob", "carol")

	r := alice.do("GET", "/api/rooms", nil)
	m := wantJSON(t, r, http.StatusOK)
	wantKeys(t, "rooms answer", m, "rooms")
	if len(arr(t, m["rooms"], "rooms")) != 0 {
		t.Fatalf("a new user has rooms: %s", r.Body)
	}

	m = wantJSON(t, alice.do("POST", "/api/rooms", map[string]any{"memberIds": []string{"bob"}}), http.StatusCreated)
	wantKeys(t, "open-room answer", m, "room")
	room := obj(t, m["room"], "room")
	wantKeys(t, "room", room, "roomId", "roomName", "direct", "members", "createdAt", "lastSeq", "lastActivityAt", "lastMessage", "unread")
	direct := num(t, room["roomId"], "roomId")
	if room["direct"] != true || room["lastMessage"] != nil || num(t, room["lastSeq"], "lastSeq") != 0 {
		t.Errorf("direct room %v", room)
	}
	members := arr(t, room["members"], "members")
	if len(members) != 2 {
		t.Fatalf("members %v", members)
	}
	for i, want := range []string{"alice", "bob"} {
		mem := obj(t, members[i], "member")
		wantKeys(t, "member", mem, "userId", "userName", "readSeq")
		if mem["userId"] != want {
			t.Errorf("member %d: %v, want %s", i, mem, want)
		}
	}
	wantTime(t, room["createdAt"], "createdAt")
	wantTime(t, room["lastActivityAt"], "lastActivityAt")

	group := alice.openRoom("Tea party", "bob", "carol")
	if group == direct {
		t.Fatal("the group room is the direct room")
	}
	// The direct room is one per pair: bob opening it gets alice's.
	if again := bob.openRoom("", "alice"); again != direct {
		t.Errorf("bob opened room %d, want the direct room %d", again, direct)
	}

	// Newest activity first, with the last message's preview. (Times are
	// in milliseconds: the post must not share the group's creation's.)
	time.Sleep(5 * time.Millisecond)
	alice.post(direct, "hello bob")
	rooms := arr(t, wantJSON(t, alice.do("GET", "/api/rooms", nil), http.StatusOK)["rooms"], "rooms")
	if len(rooms) != 2 {
		t.Fatalf("alice's rooms: %v", rooms)
	}
	first := obj(t, rooms[0], "room")
	if num(t, first["roomId"], "roomId") != direct {
		t.Errorf("the room with the newest message is not first: %v", rooms)
	}
	if last := wantMessage(t, first["lastMessage"]); last["message"] != "hello bob" || last["writerId"] != "alice" {
		t.Errorf("last message %v", last)
	}
	// Carol sees only the group room; bob both.
	if got := arr(t, wantJSON(t, carol.do("GET", "/api/rooms", nil), http.StatusOK)["rooms"], "rooms"); len(got) != 1 ||
		num(t, obj(t, got[0], "room")["roomId"], "roomId") != group {
		t.Errorf("carol's rooms: %v", got)
	}

	// Only friends may be invited ("wrong member"), and only users that exist.
	wantError(t, carol.do("POST", "/api/rooms", map[string]any{"memberIds": []string{"dave"}}), http.StatusForbidden, "forbidden")
	wantError(t, alice.do("POST", "/api/rooms", map[string]any{"memberIds": []string{"dave"}, "name": "x"}), http.StatusForbidden, "forbidden")
	wantError(t, alice.do("POST", "/api/rooms", map[string]any{"memberIds": []string{"nobody"}}), http.StatusForbidden, "forbidden")
	wantError(t, alice.do("POST", "/api/rooms", map[string]any{"memberIds": []string{}}), http.StatusBadRequest, "invalid")
	wantError(t, alice.do("POST", "/api/rooms", map[string]any{"memberIds": []string{"alice"}}), http.StatusBadRequest, "invalid")
}

func TestMessages(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	path := fmt.Sprintf("/api/rooms/%d/messages", w.room)

	r := w.alice.do("POST", path, map[string]any{"message": "hi <b>bob</b>\r\nhow are you?"})
	m := wantJSON(t, r, http.StatusCreated)
	wantKeys(t, "post answer", m, "message")
	msg := wantMessage(t, m["message"])
	if num(t, msg["roomId"], "roomId") != w.room || num(t, msg["seq"], "seq") != 1 || msg["writerId"] != "alice" ||
		msg["message"] != "hi <b>bob</b>\nhow are you?" {
		t.Errorf("message %v", msg)
	}
	// The text is JSON, not HTML-escaped or rendered.
	if !strings.Contains(string(r.Body), "<b>bob</b>") {
		t.Errorf("the message text changed on the way: %s", r.Body)
	}

	// A resent post (same clientMsgId) is stored once.
	first := wantMessage(t, wantJSON(t, w.bob.do("POST", path, map[string]any{"message": "fine", "clientMsgId": "c-1"}), http.StatusCreated)["message"])
	again := wantMessage(t, wantJSON(t, w.bob.do("POST", path, map[string]any{"message": "fine", "clientMsgId": "c-1"}), http.StatusCreated)["message"])
	if first["seq"] != again["seq"] || first["clientMsgId"] != "c-1" || num(t, first["seq"], "seq") != 2 {
		t.Errorf("resend: first %v, again %v", first, again)
	}

	seqs, writers := w.bob.history(w.room, "")
	if fmt.Sprint(seqs, writers) != "[1 2] [alice bob]" {
		t.Errorf("history %v %v", seqs, writers)
	}

	// Not a member: 403 for reading and for posting; nothing is stored.
	wantError(t, w.carol.do("GET", path, nil), http.StatusForbidden, "forbidden")
	wantError(t, w.carol.do("POST", path, map[string]any{"message": "let me in"}), http.StatusForbidden, "forbidden")
	// A missing room: 404.
	wantError(t, w.alice.do("GET", "/api/rooms/999999/messages", nil), http.StatusNotFound, "not_found")
	wantError(t, w.alice.do("POST", "/api/rooms/999999/messages", map[string]any{"message": "anyone?"}), http.StatusNotFound, "not_found")
	// Not a room id: 400.
	for _, id := range []string{"abc", "0", "-1", "1.5", "99999999999999999999"} {
		wantError(t, w.alice.do("GET", "/api/rooms/"+id+"/messages", nil), http.StatusBadRequest, "invalid")
		wantError(t, w.alice.do("POST", "/api/rooms/"+id+"/messages", map[string]any{"message": "x"}), http.StatusBadRequest, "invalid")
	}
	// An empty or too long message: 400.
	wantError(t, w.alice.do("POST", path, map[string]any{"message": "  "}), http.StatusBadRequest, "invalid")
	wantError(t, w.alice.do("POST", path, map[string]any{"message": strings.Repeat("x", 4001)}), http.StatusBadRequest, "invalid")

	if seqs, _ := w.alice.history(w.room, ""); len(seqs) != 2 {
		t.Errorf("after the refused posts the room holds %v", seqs)
	}
}

func TestHistoryQuery(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	for i := 1; i <= 5; i++ {
		w.alice.post(w.room, fmt.Sprintf("message %d", i))
	}
	for _, c := range []struct{ query, want string }{
		{"", "[1 2 3 4 5]"},
		{"?limit=2", "[4 5]"},            // the newest page
		{"?before=4&limit=2", "[2 3]"},   // scrolling back
		{"?before=1", "[]"},              // nothing before the first
		{"?after=0&limit=2", "[1 2]"},    // paging forward from the first
		{"?after=2&limit=2", "[3 4]"},    // catching up
		{"?after=0", "[1 2 3 4 5]"},      // everything, forward
		{"?after=5", "[]"},               // up to date
		{"?limit=1000", "[1 2 3 4 5]"},   // capped, not refused
		{"?before=99&limit=1", "[5]"},    // a bound past the end
		{"?after=3&limit=50", "[4 5]"},   // the rest
		{"?limit=2&userId=bob", "[4 5]"}, // the subject is the session's, not a parameter
	} {
		seqs, _ := w.bob.history(w.room, c.query)
		if got := fmt.Sprint(seqs); got != c.want && !(c.want == "[]" && seqs == nil) {
			t.Errorf("history%s: %v, want %s", c.query, got, c.want)
		}
	}
	// An empty page is an empty array, not null.
	r := w.bob.do("GET", fmt.Sprintf("/api/rooms/%d/messages?after=5", w.room), nil)
	if m := wantJSON(t, r, http.StatusOK); len(arr(t, m["messages"], "messages")) != 0 {
		t.Errorf("after=5: %s", r.Body)
	}
	for _, q := range []string{"before=x", "before=-1", "before=1.5", "after=abc", "after=-1",
		"limit=0", "limit=-3", "limit=x", "limit=1.5"} {
		r := w.bob.do("GET", fmt.Sprintf("/api/rooms/%d/messages?%s", w.room, q), nil)
		wantError(t, r, http.StatusBadRequest, "invalid")
	}
}

// The writer of a chat and the subject of every call come from the
// session, never from the body or the query.
func TestSubjectIsTheSession(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	path := fmt.Sprintf("/api/rooms/%d/messages", w.room)
	for _, body := range []string{
		`{"message":"I am bob","writerId":"bob"}`,
		`{"message":"I am bob","WriterID":"bob"}`,
		`{"message":"I am bob","userId":"bob"}`,
	} {
		r := w.alice.do("POST", path, body)
		switch r.Status {
		case http.StatusBadRequest:
			wantError(t, r, http.StatusBadRequest, "invalid")
		case http.StatusCreated:
			if msg := wantMessage(t, wantJSON(t, r, http.StatusCreated)["message"]); msg["writerId"] != "alice" {
				t.Errorf("%s: posted as %v", body, msg["writerId"])
			}
		default:
			t.Errorf("%v", r)
		}
	}
	w.alice.do("POST", path+"?writerId=bob&userId=bob", map[string]any{"message": "query"})
	w.alice.do("POST", path, map[string]any{"message": "header"}, "X-User-Id", "bob")
	_, writers := w.bob.history(w.room, "")
	for _, wr := range writers {
		if wr != "alice" {
			t.Errorf("a message of alice's was stored as %q's: %v", wr, writers)
		}
	}
	if len(writers) < 2 {
		t.Errorf("alice's own posts were not stored: %v", writers)
	}

	// Alice cannot change bob's status or read his friends.
	w.alice.do("PUT", "/api/me/status", `{"userStatus":"hacked","userId":"bob"}`)
	w.alice.do("PUT", "/api/me/status?userId=bob", `{"userStatus":"alice's"}`)
	if u := wantUser(t, wantJSON(t, w.bob.do("GET", "/api/me", nil), http.StatusOK)["user"], "bob"); u["userStatus"] != "" {
		t.Errorf("alice changed bob's status: %v", u)
	}
	w.carol.befriend("bob")
	friends := arr(t, wantJSON(t, w.alice.do("GET", "/api/friends?userId=carol", nil), http.StatusOK)["friends"], "friends")
	if len(friends) != 1 || obj(t, friends[0], "friend")["userId"] != "bob" {
		t.Errorf("alice's friends (asked with ?userId=carol): %v", friends)
	}
	// Nor add friends or open rooms in his name.
	w.alice.do("POST", "/api/friends", `{"friendIds":["carol"],"userId":"bob"}`)
	bobs := arr(t, wantJSON(t, w.bob.do("GET", "/api/friends", nil), http.StatusOK)["friends"], "friends")
	if len(bobs) != 1 {
		t.Errorf("bob's friends changed: %v", bobs)
	}
}

// route is one API call that needs a session.
type route struct {
	method, path string
	valid        string // a body the call takes (nothing for a GET)
	wrongType    string // a body with a field of the wrong JSON type
	big          func(pad string) string
}

func authedRoutes(room int64) []route {
	msgs := fmt.Sprintf("/api/rooms/%d/messages", room)
	return []route{
		{method: "POST", path: "/api/logout"},
		{method: "GET", path: "/api/me"},
		{"PUT", "/api/me/status", `{"userStatus":"hi"}`, `{"userStatus":5}`,
			func(p string) string { return `{"userStatus":"` + p + `"}` }},
		{method: "GET", path: "/api/friends"},
		{"POST", "/api/friends", `{"friendIds":["carol"]}`, `{"friendIds":"carol"}`,
			func(p string) string { return `{"friendIds":["` + p + `"]}` }},
		{method: "GET", path: "/api/rooms"},
		{"POST", "/api/rooms", `{"memberIds":["bob"],"name":"x"}`, `{"memberIds":["bob"],"name":7}`,
			func(p string) string { return `{"memberIds":["bob"],"name":"` + p + `"}` }},
		{method: "GET", path: msgs},
		{"POST", msgs, `{"message":"hi"}`, `{"message":"hi","clientMsgId":9}`,
			func(p string) string { return `{"message":"` + p + `"}` }},
		{"POST", fmt.Sprintf("/api/rooms/%d/read", room), `{"seq":0}`, `{"seq":"1"}`,
			func(p string) string { return `{"seq":0` + strings.Repeat(" ", len(p)) + `}` }},
	}
}

func bodyRoutes(room int64) []route {
	rs := []route{
		{"POST", "/api/signup", `{"userId":"zed","userPw":"correct-horse","email":"zed@example.com","userName":"Zed"}`,
			`{"userId":42,"userPw":"correct-horse","email":"zed@example.com","userName":"Zed"}`,
			func(p string) string {
				return `{"userId":"zed","userPw":"correct-horse","email":"zed@example.com","userName":"` + p + `"}`
			}},
		{"POST", "/api/login", `{"userId":"alice","userPw":"` + password + `"}`, `{"userId":"alice","userPw":1234}`,
			func(p string) string { return `{"userId":"alice","userPw":"` + p + `"}` }},
	}
	for _, r := range authedRoutes(room) {
		if r.valid != "" {
			rs = append(rs, r)
		}
	}
	return rs
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	anonymous := w.browser()
	forged := w.browserWithCookie("chatbus_session", "AAAAAAAAAAAAAAAAAAAAAAAAAA")
	for _, rt := range authedRoutes(w.room) {
		for name, b := range map[string]*browser{"no cookie": anonymous, "unknown cookie": forged} {
			var body any
			if rt.valid != "" {
				body = rt.valid
			}
			r := b.do(rt.method, rt.path, body)
			t.Run(rt.method+" "+rt.path+" "+name, func(t *testing.T) {
				wantError(t, r, http.StatusUnauthorized, "unauthenticated")
			})
		}
	}
	// Nothing was done: carol is still not alice's friend, the room has no
	// message, alice is still logged in.
	if seqs, _ := w.alice.history(w.room, ""); len(seqs) != 0 {
		t.Errorf("an anonymous post was stored: %v", seqs)
	}
	if f := arr(t, wantJSON(t, w.alice.do("GET", "/api/friends", nil), http.StatusOK)["friends"], "friends"); len(f) != 1 {
		t.Errorf("an anonymous call added friends: %v", f)
	}
}

func TestInvalidBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	for _, rt := range bodyRoutes(w.room) {
		cases := map[string]string{
			"bad JSON":      rt.valid[:len(rt.valid)/2],
			"not an object": `[1,2]`,
			"unknown field": strings.TrimSuffix(rt.valid, "}") + `,"isAdmin":true}`,
			"wrong type":    rt.wrongType,
			"empty":         "",
			"null fields":   `{"nope":null}`,
			"two values":    rt.valid + rt.valid,
			"trailing junk": rt.valid + "x",
			// encoding/json would take these (issue 12, finding 8).
			"another case": `{"` + strings.ToUpper(rt.valid[2:3]) + rt.valid[3:],
			"given twice":  rt.valid[:len(rt.valid)-1] + "," + rt.valid[1:],
		}
		for name, body := range cases {
			t.Run(rt.method+" "+rt.path+" "+name, func(t *testing.T) {
				b := w.alice
				if rt.path == "/api/signup" || rt.path == "/api/login" {
					b = w.browser()
				}
				r := b.do(rt.method, rt.path, body)
				wantError(t, r, http.StatusBadRequest, "invalid")
				if len(r.Cookies) != 0 {
					t.Errorf("a refused call set cookies: %v", r.Cookies)
				}
			})
		}
	}
	// Nothing was done.
	if seqs, _ := w.alice.history(w.room, ""); len(seqs) != 0 {
		t.Errorf("a refused post was stored: %v", seqs)
	}
	wantError(t, w.browser().login("zed", "correct-horse"), http.StatusUnauthorized, "unauthenticated")
	if rooms := arr(t, wantJSON(t, w.alice.do("GET", "/api/rooms", nil), http.StatusOK)["rooms"], "rooms"); len(rooms) != 1 {
		t.Errorf("a refused call opened a room: %v", rooms)
	}
	if u := wantUser(t, wantJSON(t, w.alice.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice"); u["userStatus"] != "" {
		t.Errorf("a refused call set the status: %v", u)
	}
	// The valid bodies of the table are taken (so the cases above fail for
	// the reason they name).
	for _, rt := range bodyRoutes(w.room) {
		b := w.alice
		if rt.path == "/api/signup" || rt.path == "/api/login" {
			b = w.browser()
		}
		if r := b.do(rt.method, rt.path, rt.valid); r.Status >= 300 {
			t.Errorf("valid body: %v", r)
		}
	}
}

func TestOversizeBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	big := strings.Repeat("a", 65<<10)
	for _, rt := range bodyRoutes(w.room) {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			b := w.alice
			if rt.path == "/api/signup" || rt.path == "/api/login" {
				b = w.browser()
			}
			r := b.do(rt.method, rt.path, rt.big(big))
			wantError(t, r, http.StatusRequestEntityTooLarge, "")
			// Just under the limit is not refused for its size.
			r = b.do(rt.method, rt.path, rt.big(strings.Repeat("a", 60<<10)))
			if r.Status == http.StatusRequestEntityTooLarge {
				t.Errorf("a 60 KiB body: %v", r)
			}
		})
	}
	if seqs, _ := w.alice.history(w.room, ""); len(seqs) != 0 {
		t.Errorf("an oversize post was stored: %v", seqs)
	}
}

// A body larger than the limit is refused even when its JSON value is
// small and the rest is padding.
func TestOversizeBodyPadded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	body := `{"message":"hi"}` + strings.Repeat(" ", 70<<10)
	r := w.alice.do("POST", fmt.Sprintf("/api/rooms/%d/messages", w.room), body)
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a %d-byte body (a small JSON value padded with spaces past MaxBody) is taken: %v (web/errors.go:78 decodeBody: dec.More() returns false on the MaxBytesError and hides it)", len(body), r)
	}
	wantError(t, r, http.StatusRequestEntityTooLarge, "")
}

func TestMaxBodyConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{MaxBody: 100})
	e.signUp("alice")
	b := e.browser()
	wantError(t, b.login("alice", strings.Repeat("p", 200)), http.StatusRequestEntityTooLarge, "")
	wantJSON(t, b.login("alice", password), http.StatusOK)
}

func TestUnknownAPICall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	b := e.browser()
	for _, c := range [][2]string{{"GET", "/api/nope"}, {"DELETE", "/api/me"}, {"POST", "/api/me"}, {"GET", "/api/rooms/1"}} {
		r := b.do(c[0], c[1], nil)
		if r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
			t.Errorf("%v", r)
			continue
		}
		wantError(t, r, r.Status, "")
	}
}
