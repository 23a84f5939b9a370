package web_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/web"
)

// TestStreamCaps: a user may hold StreamsPerUser streams, an address
// StreamsPerAddr streams before login; past that, 429. Exempt addresses are
// not capped.
func TestStreamCaps(t *testing.T) {
	e := newEnv(t, web.Config{StreamsPerUser: 2, StreamsPerAddr: 2})
	e.signUp("alice")
	alice := e.loggedIn("alice")
	alice.events().ready()
	alice.events().ready()
	wantError(t, alice.do("GET", "/api/events", nil), http.StatusTooManyRequests, "rate_limited")

	anon := e.browser()
	anon.events().ready()
	e.browser().events().ready()
	wantError(t, e.browser().do("GET", "/api/events", nil), http.StatusTooManyRequests, "rate_limited")

	free := newEnv(t, web.Config{StreamsPerUser: 1, StreamsPerAddr: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for range 3 {
		free.browser().events().ready()
	}
}

// TestPlantedPreCookie: a pre-login id the frontend did not issue is not
// honoured, so someone who plants one in a victim's browser cannot read the
// victim's login on a stream of their own.
func TestPlantedPreCookie(t *testing.T) {
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	const planted = "AAAAAAAAAAAAAAAAAAAAAAAAAA.00000000000000000000000000000000"
	attacker := e.browserWithCookie("chatbus_pre", planted)
	spy := attacker.events()
	spy.ready()
	victim := e.browserWithCookie("chatbus_pre", planted)
	wantJSON(t, victim.login("alice", password), http.StatusOK)
	spy.quiet(300 * time.Millisecond)
}

// TestDeliverOnlyKnownKinds: an event of an unknown kind (anyone who can
// write to the topic could make one) reaches no stream.
func TestDeliverOnlyKnownKinds(t *testing.T) {
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	s := e.loggedIn("alice").events()
	s.ready()
	e.gw.Deliver(0, 0, chatbus.Event{Kind: "room\nevent: evil", UserID: "alice", Data: []byte(`{}`)})
	e.gw.Deliver(0, 1, chatbus.Event{Kind: "friend", UserID: "alice", Data: []byte(`not json`)})
	s.quiet(200 * time.Millisecond)
	e.gw.Deliver(0, 2, chatbus.Event{Kind: "friend", UserID: "alice", Data: []byte(`{"userId":"bob"}`)})
	if ev := s.next(2 * time.Second); ev.Name != "friend" {
		t.Fatalf("got %q", ev.Name)
	}
}

// TestSignUpRateLimit: sign-ups per address are limited, with Retry-After.
func TestSignUpRateLimit(t *testing.T) {
	e := newEnv(t, web.Config{SignUpsPerAddr: 2})
	e.signUp("a1")
	e.signUp("a2")
	r := e.browser().do("POST", "/api/signup", map[string]string{"userId": "a3", "userPw": password, "email": "a3@example.com", "userName": "A"})
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// TestMethodNotAllowed: a known path called with another method is 405 with
// Allow, in the API's error JSON; an unknown path is 404.
func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, web.Config{})
	b := e.browser()
	for path, allow := range map[string]string{"/api/events": "GET", "/api/logout": "POST", "/api/friends": "GET, POST", "/api/me/status": "PUT"} {
		r := b.do("DELETE", path, nil)
		wantError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		if got := r.Header.Get("Allow"); got != allow {
			t.Errorf("DELETE %s: Allow %q, want %q", path, got, allow)
		}
	}
	wantError(t, b.do("GET", "/api/nothing-here", nil), http.StatusNotFound, "not_found")
}
