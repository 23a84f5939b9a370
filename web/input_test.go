package web_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatbus/chatbus/web"
)

// wantMessage checks an error answer's status and code and that its message
// holds want.
func wantErrorMessage(t testing.TB, r *result, status int, code, want string) {
	t.Helper()
	wantError(t, r, status, code)
	m := wantJSON(t, r, status)
	if msg := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, want) {
		t.Fatalf("%v: message %q, want it to hold %q", r, msg, want)
	}
}

// Field names are exact and given once: encoding/json alone would log in
// {"USERID":…} as alice and {"userId":"alice","userId":"bob",…} as bob.
func TestStrictFieldNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	e.signUp("bob")
	b := e.browser()
	wantErrorMessage(t, b.do("POST", "/api/login", `{"USERID":"alice","USERPW":"`+password+`"}`),
		http.StatusBadRequest, "invalid", `field names are case-sensitive: write "userId"`)
	wantErrorMessage(t, b.do("POST", "/api/login", `{"userId":"alice","userId":"bob","userPw":"`+password+`"}`),
		http.StatusBadRequest, "invalid", `"userId" is given twice`)
	if b.cookie("chatbus_session", "/") != "" {
		t.Fatal("a refused login set a session")
	}
	wantJSON(t, b.do("POST", "/api/login", `{"userId":"alice","userPw":"`+password+`"}`), http.StatusOK)
}

// A body must be declared JSON (parameters such as charset=utf-8 may
// follow): anything else is 415, before anything is done.
func TestContentTypeChecked(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	for _, rt := range bodyRoutes(w.room) {
		b := w.alice
		if rt.path == "/api/signup" || rt.path == "/api/login" {
			b = w.browser()
		}
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
			"", "application/json; charset=latin1", "application/jsonx", "text/json"} {
			r := b.do(rt.method, rt.path, rt.valid, "Content-Type", ct)
			wantErrorMessage(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "application/json")
		}
	}
	if seqs, _ := w.alice.history(w.room, ""); len(seqs) != 0 {
		t.Errorf("a post not declared JSON was stored: %v", seqs)
	}
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
		r := w.alice.do("POST", fmt.Sprintf("/api/rooms/%d/messages", w.room), `{"message":"hi"}`, "Content-Type", ct)
		wantJSON(t, r, http.StatusCreated)
	}
}

// Error answers say what was wrong in the client's terms: no Go type
// (encoding/json's "cannot unmarshal array into Go value of type struct
// {…}"), no socket ("read tcp 127.0.0.1:…: i/o timeout").
func TestErrorsInClientTerms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{BodyTimeout: 200 * time.Millisecond})
	e.signUp("alice")
	b := e.browser()
	for body, want := range map[string]string{
		`[]`:                                "the body must be a JSON object",
		`"alice"`:                           "the body must be a JSON object",
		`{"userId":["alice"],"userPw":"x"}`: "userId must be a JSON string",
		`{"userId":"alice"`:                 "the body ends too soon",
		`{"userId":"alice"}}`:               "the body holds more than one JSON value",
		`{"userId" "alice"}`:                "the body has a syntax error at byte 11",
		`{"userId":"alice","isAdmin":true}`: `the body has a field this call does not take: "isAdmin"`,
	} {
		r := b.do("POST", "/api/login", body)
		wantErrorMessage(t, r, http.StatusBadRequest, "invalid", want)
		if strings.Contains(string(r.Body), "Go ") || strings.Contains(string(r.Body), "struct") {
			t.Errorf("%s: %s", body, r.Body)
		}
	}

	// A body that stops coming: its answer names no socket.
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"userId\":")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := &result{Method: "POST", Path: "/api/login", Status: resp.StatusCode, Header: resp.Header, Body: data}
	wantErrorMessage(t, r, http.StatusBadRequest, "invalid", "the request body was not received in time")
	if strings.Contains(string(data), "tcp") || strings.Contains(string(data), "127.0.0.1") {
		t.Errorf("the answer names the socket: %s", data)
	}
}

// The UI isolates user text: a name and an id are never one text node
// (U+202E in a name would reorder the id after it), and names, statuses and
// messages are shown in elements with dir="auto" or in <bdi>.
func TestUIIsolatesUserText(t *testing.T) {
	js, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(js)
	if m := regexp.MustCompile(`(?i)(name|id)\s*\+\s*" \("|" \(" \+`).FindString(src); m != "" {
		t.Errorf("app.js joins a name and an id into one string: %q", m)
	}
	for _, want := range []string{`e.dir = "auto"`, `el("bdi"`, `userEl("div", "bubble", m.message)`, `userEl("div", "who"`,
		`nameAndId(state.me.userName, state.me.userId)`, `nameAndId(f.userName, f.userId)`, `nameAndId(fr.userName, fr.userId)`} {
		if !strings.Contains(src, want) {
			t.Errorf("app.js lacks %s", want)
		}
	}
}

// The security review's invisible and bidi inputs, through the API.
func TestInvisibleTextRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	b := w.browser()
	r := b.do("POST", "/api/signup", `{"userId":"zed","userPw":"correct-horse","email":"zed@example.com","userName":"\u200b"}`)
	wantErrorMessage(t, r, http.StatusBadRequest, "invalid", "userName has nothing visible")
	r = b.do("POST", "/api/signup", `{"userId":"zed","userPw":"correct-horse","email":"zed@example.com","userName":"evil\u202egnp.exe"}`)
	wantErrorMessage(t, r, http.StatusBadRequest, "invalid", "userName holds a bidirectional control character (U+202E)")
	r = w.alice.do("POST", fmt.Sprintf("/api/rooms/%d/messages", w.room), `{"message":"\u200b\u200c\ufeff"}`)
	wantErrorMessage(t, r, http.StatusBadRequest, "invalid", "message has nothing visible")
	r = w.alice.do("POST", fmt.Sprintf("/api/rooms/%d/messages", w.room), `{"message":"see \u202etxt.exe"}`)
	wantErrorMessage(t, r, http.StatusBadRequest, "invalid", "message holds a bidirectional control character")
	r = w.alice.do("POST", "/api/rooms", `{"memberIds":["bob"],"name":"\u202eroom"}`)
	wantErrorMessage(t, r, http.StatusBadRequest, "invalid", "roomName holds a bidirectional control character")
}

// API answers are not to be cached: they are one user's.
func TestAPIAnswersNotCached(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	for _, r := range []*result{w.alice.do("GET", "/api/me", nil), w.alice.do("GET", "/api/rooms", nil),
		w.browser().do("GET", "/api/me", nil), w.alice.do("GET", "/api/nope", nil),
		w.browser().do("POST", "/api/login", `{"userId":"alice","userPw":"`+password+`"}`)} {
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%v: Cache-Control %q", r, got)
		}
	}
}

// A Secure cookie has the __Host- prefix (Secure, Path=/, no Domain: a
// sibling subdomain or a plain-HTTP page cannot plant or shadow it); the
// session works under that name, and the stream before login too.
func TestHostPrefixedCookies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  web.Config
		tls  bool
	}{{"TLS", web.Config{}, true}, {"--secure-cookies", web.Config{SecureCookies: true}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t, tc.cfg, tc.tls)
			e.signUp("alice")
			b := e.browser()
			var pre *eventStream
			if tc.tls { // the jar sends Secure cookies over TLS only
				pre = b.events()
				pre.ready()
				if b.cookie("__Host-chatbus_pre", "/") == "" {
					t.Error("no __Host-chatbus_pre cookie for the whole host")
				}
			}
			c := sessionCookie(t, b.login("alice", password))
			if pre != nil {
				if ev := pre.next(5 * time.Second); ev.Name != "login" {
					t.Errorf("the stream before login got %q, want login", ev.Name)
				}
			}
			if c.Name != "__Host-chatbus_session" || !c.Secure || c.Path != "/" || c.Domain != "" {
				t.Errorf("session cookie %+v", c)
			}
			// By hand: the jar would not send it over plain HTTP.
			r := e.browser().do("GET", "/api/me", nil, "Cookie", c.Name+"="+c.Value)
			wantUser(t, wantJSON(t, r, http.StatusOK)["user"], "alice")
			r = e.browser().do("GET", "/api/me", nil, "Cookie", "chatbus_session="+c.Value)
			wantError(t, r, http.StatusUnauthorized, "unauthenticated")
		})
	}
	// Plain HTTP, no --secure-cookies: no prefix (browsers would refuse it).
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	if c := sessionCookie(t, e.browser().login("alice", password)); c.Name != "chatbus_session" || c.Secure {
		t.Errorf("session cookie over plain HTTP: %+v", c)
	}
}

// X-Request-Id is taken from a trusted proxy only; anyone else's call gets
// an id made anew, so no client can plant ids in the logs.
func TestRequestIDFromTrustedProxies(t *testing.T) {
	t.Parallel()
	untrusted := newEnv(t, web.Config{})
	if got := untrusted.browser().do("GET", "/api/me", nil, "X-Request-Id", "lb-1234").Header.Get("X-Request-Id"); got == "" || got == "lb-1234" {
		t.Errorf("a client's request id came back as %q", got)
	}
	trusted := newEnv(t, web.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	if got := trusted.browser().do("GET", "/api/me", nil, "X-Request-Id", "lb-1234").Header.Get("X-Request-Id"); got != "lb-1234" {
		t.Errorf("a trusted proxy's request id came back as %q", got)
	}
}

// Numbers that must be whole say so: 1.0 and 1.5 are not room ids or seqs.
func TestWholeNumbers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	for _, path := range []string{"/api/rooms/1.0/messages", "/api/rooms/1.5/messages"} {
		wantErrorMessage(t, w.alice.do("GET", path, nil), http.StatusBadRequest, "invalid", "the room id must be a positive whole number")
	}
	for _, q := range []string{"before=1.5", "after=1.0", "limit=1.5"} {
		wantErrorMessage(t, w.alice.do("GET", fmt.Sprintf("/api/rooms/%d/messages?%s", w.room, q), nil), http.StatusBadRequest, "invalid", "a whole number")
	}
	for _, body := range []string{`{"seq":1.5}`, `{"seq":1.0}`} {
		wantErrorMessage(t, w.alice.do("POST", fmt.Sprintf("/api/rooms/%d/read", w.room), body), http.StatusBadRequest, "invalid", "seq must be a whole number")
	}
}

// Friend adds are limited per user, by the ids asked about, known or not;
// a call takes at most 20 ids, and of several it does not say which are
// unknown: POST /api/friends is no way to test which ids exist.
func TestFriendAddsLimited(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{FriendAddsPerUser: 4})
	wantErrorMessage(t, w.carol.do("POST", "/api/friends", map[string]any{"friendIds": []string{"x1"}}),
		http.StatusNotFound, "not_found", `no user with id "x1"`)
	r := w.carol.do("POST", "/api/friends", map[string]any{"friendIds": []string{"x2", "x3", "bob"}})
	wantErrorMessage(t, r, http.StatusNotFound, "not_found", "one or more")
	if strings.Contains(string(r.Body), "x2") || strings.Contains(string(r.Body), "x3") {
		t.Errorf("the answer names the unknown ids: %v", r)
	}
	r = w.carol.do("POST", "/api/friends", map[string]any{"friendIds": []string{"bob"}})
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %v", r)
	}
	// Others are not held up by carol.
	wantJSON(t, w.bob.do("POST", "/api/friends", map[string]any{"friendIds": []string{"carol"}}), http.StatusOK)
	// More ids than a call takes: refused as such, not counted.
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("y%d", i)
	}
	wantErrorMessage(t, w.alice.do("POST", "/api/friends", map[string]any{"friendIds": many}),
		http.StatusBadRequest, "invalid", "more than 20")
	wantJSON(t, w.alice.do("POST", "/api/friends", map[string]any{"friendIds": []string{"carol"}}), http.StatusOK)
}
