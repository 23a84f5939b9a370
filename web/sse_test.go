package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatbus/chatbus/web"
)

func TestEventsReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")

	anon := e.browser().events()
	ev := anon.next(5 * time.Second)
	if ev.Name != "ready" {
		t.Fatalf("the first event is %q, want ready", ev.Name)
	}
	// A stream before login is not resumable: its events carry no cursor.
	if jsonData(t, ev); ev.HasID {
		t.Errorf("an anonymous stream's ready has id %q", ev.ID)
	}
	if strings.Contains(ev.Data, "alice") {
		t.Errorf("an anonymous stream names a user: %s", ev.Data)
	}
	if cc := anon.resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") && !strings.Contains(cc, "no-cache") {
		t.Errorf("the stream may be cached: Cache-Control %q", cc)
	}
	// The anonymous stream marks the browser (for the login's answer) with
	// a cookie scripts cannot read.
	var pre *http.Cookie
	for _, c := range anon.resp.Cookies() {
		pre = c
	}
	// Its value is a random id and the frontend's signature of it.
	if pre == nil || !pre.HttpOnly || pre.SameSite != http.SameSiteLaxMode || idBits(strings.SplitN(pre.Value, ".", 2)[0]) < 128 {
		t.Errorf("the anonymous stream's cookie: %+v", pre)
	}

	alice := e.loggedIn("alice")
	s := alice.events()
	if ev := s.next(5 * time.Second); ev.Name != "ready" || !strings.Contains(ev.Data, `"alice"`) {
		t.Errorf("a logged-in stream opened with %q %s, want ready naming alice", ev.Name, ev.Data)
	} else {
		eventData(t, ev)
	}
	if len(s.resp.Cookies()) != 0 {
		t.Errorf("a logged-in stream set cookies: %v", s.resp.Cookies())
	}
}

func TestEventsHeartbeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{Heartbeat: 100 * time.Millisecond})
	s := e.browser().events()
	s.ready()
	start := time.Now()
	for range 3 {
		s.nextComment(2 * time.Second)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("three heartbeats in %v: faster than the 100 ms interval", d)
	}
}

// The seed's login flow: the login page opens the stream, sends the
// credentials, and the answer arrives as an event.
func TestEventsLoginFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	a, other := e.browser(), e.browser()
	s, otherStream := a.events(), other.events()
	ready := s.next(5 * time.Second)
	otherStream.ready()

	wantError(t, a.login("alice", "wrong-password"), http.StatusUnauthorized, "unauthenticated")
	ev := s.next(5 * time.Second)
	if ev.Name != "login" {
		t.Fatalf("event %q %s, want login", ev.Name, ev.Data)
	}
	data := jsonData(t, ev)
	wantKeys(t, "login event", data, "error")
	errObj := obj(t, data["error"], "error")
	wantKeys(t, "login event error", errObj, "code", "message")
	if errObj["code"] != "unauthenticated" {
		t.Errorf("login error event %v", errObj)
	}

	r := a.login("alice", password)
	wantJSON(t, r, http.StatusOK)
	ev2 := s.next(5 * time.Second)
	if ev2.Name != "login" {
		t.Fatalf("event %q %s, want login", ev2.Name, ev2.Data)
	}
	data = jsonData(t, ev2)
	wantKeys(t, "login event", data, "user")
	wantUser(t, data["user"], "alice")
	if strings.Contains(ev2.Data, password) {
		t.Errorf("the login event holds the password: %s", ev2.Data)
	}
	if ready.HasID || ev.HasID || ev2.HasID {
		t.Errorf("events before login have cursors: %q %q %q", ready.ID, ev.ID, ev2.ID)
	}
	// The session is established for the browser that sent the login.
	wantUser(t, wantJSON(t, a.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")

	// Another browser's stream heard nothing of it.
	otherStream.quiet(300 * time.Millisecond)
	wantError(t, other.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")

	// A login sent by another browser reaches that browser's stream only.
	wantJSON(t, other.login("alice", password), http.StatusOK)
	if ev := otherStream.next(5 * time.Second); ev.Name != "login" {
		t.Errorf("other browser: event %q", ev.Name)
	}
	s.quiet(300 * time.Millisecond)
}

// A refused login (too many attempts) is answered on the stream as well, so
// a page waiting for the event does not wait for ever.
func TestEventsLoginRefusedByRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{LoginPerAccount: 1})
	e.signUp("alice")
	a := e.browser()
	s := a.events()
	s.ready()
	wantError(t, a.login("alice", "wrong-password"), http.StatusUnauthorized, "unauthenticated")
	s.next(5 * time.Second)
	wantRateLimited(t, a.login("alice", password))
	select {
	case ev, ok := <-s.events:
		for ok && ev.Comment {
			ev, ok = <-s.events
		}
		if !ok || ev.Name != "login" || !strings.Contains(ev.Data, "rate_limited") {
			t.Errorf("after a 429 the stream got %q %s, want a login event with the error", ev.Name, ev.Data)
		}
	case <-time.After(time.Second):
		t.Fatal("a login refused with 429 sends no login event to the browser's stream (web/api.go:83 handleLogin: the rate-limit branch returns before s.hub.sendPre)")
	}
}

func TestEventsEndAtLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{Heartbeat: 100 * time.Millisecond})
	e.signUp("alice")
	a, b := e.loggedIn("alice"), e.loggedIn("alice")
	tab1, tab2, device2 := a.events(), a.events(), b.events()
	for _, s := range []*eventStream{tab1, tab2, device2} {
		s.ready()
	}

	if r := a.do("POST", "/api/logout", nil); r.Status != http.StatusNoContent {
		t.Fatalf("%v", r)
	}
	start := time.Now()
	for i, s := range []*eventStream{tab1, tab2} {
		if !s.closedWithin(time.Second) {
			t.Errorf("tab %d's stream is still open 1 s after the logout", i+1)
		}
	}
	t.Logf("streams ended %v after the logout's answer", time.Since(start))
	// The other device's session and stream go on.
	device2.nextComment(2 * time.Second)
	if device2.closedWithin(300 * time.Millisecond) {
		t.Error("another session's stream ended at the logout")
	}
	wantJSON(t, b.do("GET", "/api/me", nil), http.StatusOK)

	// A stream opened again after the logout is anonymous.
	s := a.events()
	if ev := s.next(5 * time.Second); ev.Name != "ready" || strings.Contains(ev.Data, `"alice"`) {
		t.Errorf("a stream after logout: %q %s", ev.Name, ev.Data)
	}
}

func TestEventsEndAtNewLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	a := e.loggedIn("alice")
	s := a.events()
	s.ready()
	wantJSON(t, a.login("alice", password), http.StatusOK)
	if !s.closedWithin(time.Second) {
		t.Error("the old session's stream is still open 1 s after a new login replaced it")
	}
}

// Not parallel: it measures time.
func TestEventsEndWhenSessionExpires(t *testing.T) {
	e := newEnv(t, web.Config{SessionMax: 300 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
	e.signUp("alice")
	a := e.loggedIn("alice")
	s := a.events()
	s.ready()
	if !s.closedWithin(2 * time.Second) {
		wantError(t, a.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
		t.Fatal("a session's event stream outlives the session: open 2 s after a 300 ms SessionMax, still sending (web/session.go:59 get and :92 sweep delete an expired session without hub.closeSession; web/sse.go:202 the stream never re-checks its session)")
	}
}
