package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/sqlite"
	"github.com/chatbus/chatbus/web"
)

// password is every test user's password: long enough for the web sign-up.
const password = "correct-horse-battery"

// fastHash keeps tests quick; the stored format is the same as production's.
var fastHash = chatbus.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

// newMessenger is the real backend service over a real SQLite file.
func newMessenger(t testing.TB) *chatbus.Messenger {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chatbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return chatbus.NewMessenger(st, chatbus.NewHasher(fastHash, 4))
}

// env is a gateway served by httptest, over a real messenger unless the
// config names another service.
type env struct {
	t   testing.TB
	gw  *web.Server
	srv *httptest.Server
	m   *chatbus.Messenger // nil when cfg.Service was given
}

func newEnv(t testing.TB, cfg web.Config) *env { return startEnv(t, cfg, false) }

func startEnv(t testing.TB, cfg web.Config, tls bool) *env {
	t.Helper()
	e := &env{t: t}
	local := cfg.Service == nil
	if local {
		e.m = newMessenger(t)
		cfg.Service = e.m
	}
	gw, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	if local {
		gw.Start("local", []int64{0}, []int64{0}) // a log of one partition, fed by the test
	}
	if tls {
		e.srv = httptest.NewTLSServer(gw)
	} else {
		e.srv = httptest.NewServer(gw)
	}
	t.Cleanup(e.srv.Close)
	// Run as production does; its end (before the server closes: cleanups
	// run last-in first-out) ends every open stream.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { gw.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// browser is one simulated browser: its own cookie jar.
type browser struct {
	t   testing.TB
	e   *env
	jar *cookiejar.Jar
	c   *http.Client // calls
	sc  *http.Client // event streams: no overall timeout
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	tr := e.srv.Client().Transport
	return &browser{t: e.t, e: e, jar: jar,
		c:  &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second},
		sc: &http.Client{Jar: jar, Transport: tr}}
}

// browserWithCookie is a browser that holds one cookie already.
func (e *env) browserWithCookie(name, value string) *browser {
	b := e.browser()
	u, _ := url.Parse(e.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
	return b
}

// cookie returns the value of the jar's cookie called name for path, "" if none.
func (b *browser) cookie(name, path string) string {
	u, _ := url.Parse(b.e.srv.URL + path)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

type result struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
	Cookies      []*http.Cookie
	Elapsed      time.Duration
}

func (r *result) String() string {
	return fmt.Sprintf("%s %s: %d %s", r.Method, r.Path, r.Status, bytes.TrimSpace(r.Body))
}

// do sends a request. body is sent as is when a string or []byte, as JSON
// otherwise; headers are name, value pairs.
func (b *browser) do(method, path string, body any, headers ...string) *result {
	b.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			b.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return &result{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: data,
		Cookies: resp.Cookies(), Elapsed: time.Since(start)}
}

// wantJSON checks the status and that the body is a JSON object served as
// JSON, and returns it.
func wantJSON(t testing.TB, r *result, status int) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%v; want status %d", r, status)
	}
	wantJSONType(t, r)
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil || m == nil {
		t.Fatalf("%v: the body is not a JSON object: %v", r, err)
	}
	return m
}

func wantJSONType(t testing.TB, r *result) {
	t.Helper()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		t.Fatalf("%v: Content-Type %q, want application/json", r, r.Header.Get("Content-Type"))
	}
}

// wantError checks an error answer: the status, JSON, and exactly
// {"error":{"code","message"}} with the code (any non-empty one if "") and
// a non-empty message.
func wantError(t testing.TB, r *result, status int, code string) {
	t.Helper()
	m := wantJSON(t, r, status)
	wantKeys(t, "error body", m, "error")
	e := obj(t, m["error"], "error")
	wantKeys(t, "error", e, "code", "message")
	got, _ := e["code"].(string)
	if got == "" || (code != "" && got != code) {
		t.Fatalf("%v: error code %q, want %q", r, got, code)
	}
	if msg, _ := e["message"].(string); strings.TrimSpace(msg) == "" {
		t.Fatalf("%v: empty error message", r)
	}
}

// wantKeys checks that m has exactly these keys: the camelCase fields of
// the wire, nothing more (no Go field names, no secrets).
func wantKeys(t testing.TB, what string, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	keys = slices.Clone(keys)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("%s has the fields %q, want %q", what, got, keys)
	}
}

func obj(t testing.TB, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %#v, not a JSON object", what, v)
	}
	return m
}

// arr returns a JSON array; null is not one.
func arr(t testing.TB, v any, what string) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%s is %#v, not a JSON array", what, v)
	}
	return a
}

func str(t testing.TB, v any, what string) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s is %#v, not a string", what, v)
	}
	return s
}

func num(t testing.TB, v any, what string) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%s is %#v, not a number", what, v)
	}
	return int64(f)
}

func wantTime(t testing.TB, v any, what string) {
	t.Helper()
	if _, err := time.Parse(time.RFC3339Nano, str(t, v, what)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var userKeys = []string{"userId", "email", "userName", "userStatus", "joinDate", "loginDate", "logoutDate"}

// wantUser checks a user object's shape and id.
func wantUser(t testing.TB, v any, id string) map[string]any {
	t.Helper()
	u := obj(t, v, "user")
	wantKeys(t, "user", u, userKeys...)
	if got := str(t, u["userId"], "userId"); got != id {
		t.Fatalf("userId %q, want %q", got, id)
	}
	wantTime(t, u["joinDate"], "joinDate")
	return u
}

func wantMessage(t testing.TB, v any) map[string]any {
	t.Helper()
	m := obj(t, v, "message")
	keys := []string{"roomId", "seq", "writerId", "message", "createdAt", "unreadCount"}
	if _, ok := m["clientMsgId"]; ok {
		keys = append(keys, "clientMsgId")
	}
	wantKeys(t, "message", m, keys...)
	wantTime(t, m["createdAt"], "createdAt")
	return m
}

// ---- users, friends and rooms --------------------------------------------

func (e *env) signUp(id string) {
	e.t.Helper()
	r := e.browser().do("POST", "/api/signup", map[string]string{"userId": id, "userPw": password,
		"email": id + "@example.com", "userName": strings.ToUpper(id[:1]) + id[1:]})
	wantJSON(e.t, r, http.StatusCreated)
}

func (b *browser) login(id, pw string) *result {
	b.t.Helper()
	return b.do("POST", "/api/login", map[string]string{"userId": id, "userPw": pw})
}

// loggedIn is a new browser in which id has logged in.
func (e *env) loggedIn(id string) *browser {
	e.t.Helper()
	b := e.browser()
	wantJSON(e.t, b.login(id, password), http.StatusOK)
	return b
}

func (b *browser) befriend(ids ...string) {
	b.t.Helper()
	wantJSON(b.t, b.do("POST", "/api/friends", map[string]any{"friendIds": ids}), http.StatusOK)
}

func (b *browser) openRoom(name string, members ...string) int64 {
	b.t.Helper()
	m := wantJSON(b.t, b.do("POST", "/api/rooms", map[string]any{"memberIds": members, "name": name}), http.StatusCreated)
	return num(b.t, obj(b.t, m["room"], "room")["roomId"], "roomId")
}

func (b *browser) post(room int64, text string) map[string]any {
	b.t.Helper()
	m := wantJSON(b.t, b.do("POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]any{"message": text}), http.StatusCreated)
	return wantMessage(b.t, m["message"])
}

// read marks the room read up to seq and returns the answer, checked.
func (b *browser) read(room, seq int64) map[string]any {
	b.t.Helper()
	m := wantJSON(b.t, b.do("POST", fmt.Sprintf("/api/rooms/%d/read", room), map[string]any{"seq": seq}), http.StatusOK)
	wantKeys(b.t, "read answer", m, "roomId", "userId", "readSeq", "unread")
	return m
}

// roomUnread returns the room's unread count in the browser's room list.
func (b *browser) roomUnread(room int64) int64 {
	b.t.Helper()
	for _, v := range arr(b.t, wantJSON(b.t, b.do("GET", "/api/rooms", nil), http.StatusOK)["rooms"], "rooms") {
		r := obj(b.t, v, "room")
		if num(b.t, r["roomId"], "roomId") == room {
			return num(b.t, r["unread"], "unread")
		}
	}
	b.t.Fatalf("room %d is not in the room list", room)
	return 0
}

// unreadCounts returns the unreadCount of each message of the room's history.
func (b *browser) unreadCounts(room int64) []int64 {
	b.t.Helper()
	m := wantJSON(b.t, b.do("GET", fmt.Sprintf("/api/rooms/%d/messages", room), nil), http.StatusOK)
	out := []int64{}
	for _, v := range arr(b.t, m["messages"], "messages") {
		out = append(out, num(b.t, wantMessage(b.t, v)["unreadCount"], "unreadCount"))
	}
	return out
}

// history returns the seqs and writers of a page of a room's history.
func (b *browser) history(room int64, query string) (seqs []int64, writers []string) {
	b.t.Helper()
	m := wantJSON(b.t, b.do("GET", fmt.Sprintf("/api/rooms/%d/messages%s", room, query), nil), http.StatusOK)
	wantKeys(b.t, "history", m, "messages")
	for _, v := range arr(b.t, m["messages"], "messages") {
		msg := wantMessage(b.t, v)
		seqs = append(seqs, num(b.t, msg["seq"], "seq"))
		writers = append(writers, str(b.t, msg["writerId"], "writerId"))
	}
	return seqs, writers
}

// ---- Server-Sent Events ----------------------------------------------------

type sseEvent struct {
	ID, Name, Data string
	HasID          bool
	Comment        bool // a ":" line, e.g. the heartbeat
}

// eventStream reads one /api/events stream in the background.
type eventStream struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent // closed at the end of the stream
	cancel context.CancelFunc
}

// cut drops the connection, as a network failure would.
func (s *eventStream) cut() { s.cancel(); s.resp.Body.Close() }

// events opens the browser's event stream and checks that it is one.
func (b *browser) events() *eventStream { b.t.Helper(); return b.openEvents("/api/events", "") }

// eventsFrom opens the browser's event stream with a Last-Event-ID, as a
// browser does when it reconnects.
func (b *browser) eventsFrom(lastEventID string) *eventStream {
	b.t.Helper()
	return b.openEvents("/api/events", lastEventID)
}

func (b *browser) openEvents(path, lastEventID string) *eventStream {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := b.sc.Do(req)
	if err != nil {
		cancel()
		b.t.Fatal(err)
	}
	s := &eventStream{t: b.t, resp: resp, events: make(chan sseEvent, 1024), cancel: cancel}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		readSSE(resp.Body, s.events, stop)
	}()
	b.t.Cleanup(func() {
		close(stop)
		cancel()
		resp.Body.Close()
		<-done
	})
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /api/events: %d", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		b.t.Fatalf("GET /api/events: Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return s
}

// readSSE parses the text/event-stream format into events and comments.
func readSSE(r io.Reader, out chan<- sseEvent, stop <-chan struct{}) {
	br := bufio.NewReader(r)
	var ev sseEvent
	var data []string
	pending := false
	emit := func(e sseEvent) bool {
		select {
		case out <- e:
			return true
		case <-stop:
			return false
		}
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			// As the SSE spec says, a block without data (a "retry:"
			// alone) dispatches no event.
			if pending && data != nil {
				ev.Data = strings.Join(data, "\n")
				if !emit(ev) {
					return
				}
			} else if pending && ev.HasID {
				// No event, but the browser's last event id moves: shown
				// here as a comment with the id.
				if !emit(sseEvent{Comment: true, ID: ev.ID, HasID: true}) {
					return
				}
			}
			ev, data, pending = sseEvent{}, nil, false
		case strings.HasPrefix(line, ":"):
			if !emit(sseEvent{Comment: true, Data: strings.TrimSpace(line[1:])}) {
				return
			}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			pending = true
			switch field {
			case "id":
				ev.ID, ev.HasID = value, true
			case "event":
				ev.Name = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

// next returns the next event (not a comment); it fails the test if none
// comes in time or the stream ends.
func (s *eventStream) next(timeout time.Duration) sseEvent {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the event stream ended")
			}
			if !ev.Comment {
				return ev
			}
		case <-deadline:
			s.t.Fatalf("no event within %v", timeout)
		}
	}
}

// nextComment returns the next comment line.
func (s *eventStream) nextComment(timeout time.Duration) sseEvent {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the event stream ended")
			}
			if ev.Comment {
				return ev
			}
		case <-deadline:
			s.t.Fatalf("no comment within %v", timeout)
		}
	}
}

// ready reads the stream's first event, which must be "ready" with JSON
// data, and returns its data.
func (s *eventStream) ready() map[string]any {
	s.t.Helper()
	ev := s.next(5 * time.Second)
	if ev.Name != "ready" {
		s.t.Fatalf("the first event is %q, want ready", ev.Name)
	}
	return jsonData(s.t, ev)
}

// eventData checks that an event has an id and a JSON object as data.
func eventData(t testing.TB, ev sseEvent) map[string]any {
	t.Helper()
	if !ev.HasID || ev.ID == "" {
		t.Fatalf("event %q has no id: line", ev.Name)
	}
	return jsonData(t, ev)
}

func jsonData(t testing.TB, ev sseEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil || m == nil {
		t.Fatalf("event %q: data %q is not a JSON object: %v", ev.Name, ev.Data, err)
	}
	return m
}

// closedWithin tells whether the stream ends within d.
func (s *eventStream) closedWithin(d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// quiet checks that no event (comments aside) arrives for d.
func (s *eventStream) quiet(d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the event stream ended")
			}
			if !ev.Comment {
				s.t.Fatalf("unexpected event %q: %s", ev.Name, ev.Data)
			}
		case <-deadline:
			return
		}
	}
}
