package web_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/chatbus/chatbus/web"
)

// sessionCookie returns the one cookie a successful login sets.
func sessionCookie(t testing.TB, r *result) *http.Cookie {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%v", r)
	}
	if len(r.Cookies) != 1 {
		t.Fatalf("login set %d cookies (%v), want one", len(r.Cookies), r.Cookies)
	}
	return r.Cookies[0]
}

// idBits is how many bits an id's characters can carry, by the smallest
// alphabet it fits: hex, base32, base64url.
func idBits(id string) int {
	switch {
	case regexp.MustCompile(`^[0-9a-fA-F]+$`).MatchString(id):
		return 4 * len(id)
	case regexp.MustCompile(`^[A-Z2-7]+=*$`).MatchString(id), regexp.MustCompile(`^[a-z2-7]+=*$`).MatchString(id):
		return 5 * len(id)
	case regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(id), regexp.MustCompile(`^[A-Za-z0-9+/]+=*$`).MatchString(id):
		return 6 * len(id)
	}
	return 0
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	seen := map[string]bool{}
	for range 5 {
		c := sessionCookie(t, e.browser().login("alice", password))
		if !c.HttpOnly {
			t.Error("the session cookie is not HttpOnly")
		}
		if c.SameSite != http.SameSiteLaxMode {
			t.Errorf("the session cookie's SameSite is %v, want Lax", c.SameSite)
		}
		if c.Path != "/" {
			t.Errorf("the session cookie's Path is %q, want /", c.Path)
		}
		if c.Secure {
			t.Error("the session cookie is Secure over plain http: browsers would drop it")
		}
		if c.Domain != "" {
			t.Errorf("the session cookie has Domain %q: it would reach other hosts", c.Domain)
		}
		if bits := idBits(c.Value); bits < 128 {
			t.Errorf("session id %q carries at most %d bits, want ≥ 128", c.Value, bits)
		}
		if seen[c.Value] {
			t.Errorf("session id %q was given twice", c.Value)
		}
		seen[c.Value] = true
	}
}

func TestSessionCookieSecureOverTLS(t *testing.T) {
	t.Parallel()
	e := startEnv(t, web.Config{}, true)
	e.signUp("alice")
	b := e.browser()
	c := sessionCookie(t, b.login("alice", password))
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie over TLS: %+v", c)
	}
	wantUser(t, wantJSON(t, b.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")
}

func TestLoginRotatesSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	e.signUp("bob")
	b := e.browser()
	first := sessionCookie(t, b.login("alice", password))
	second := sessionCookie(t, b.login("alice", password))
	if first.Value == second.Value {
		t.Fatal("a second login kept the session id")
	}
	if got := b.cookie(first.Name, "/api/me"); got != second.Value {
		t.Fatalf("the browser holds %q, want the new id", got)
	}
	wantUser(t, wantJSON(t, b.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")
	// The old id no longer works.
	wantError(t, e.browserWithCookie(first.Name, first.Value).do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	// Logging in as someone else in the same browser replaces the session too.
	third := sessionCookie(t, b.login("bob", password))
	wantUser(t, wantJSON(t, b.do("GET", "/api/me", nil), http.StatusOK)["user"], "bob")
	wantError(t, e.browserWithCookie(first.Name, second.Value).do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	if third.Value == second.Value {
		t.Error("the session id was kept across users")
	}

	// Session fixation: an id planted before login is never adopted.
	const planted = "PLANTEDPLANTEDPLANTEDPLANT"
	victim := e.browserWithCookie(first.Name, planted)
	c := sessionCookie(t, victim.login("alice", password))
	if c.Value == planted {
		t.Fatal("login adopted the planted session id")
	}
	wantError(t, e.browserWithCookie(first.Name, planted).do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")

	// A login on another device does not end this one's session.
	other := e.loggedIn("alice")
	wantUser(t, wantJSON(t, victim.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")
	wantUser(t, wantJSON(t, other.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	b := e.browser()
	c := sessionCookie(t, b.login("alice", password))
	other := e.loggedIn("alice") // another device

	r := b.do("POST", "/api/logout", nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("%v; want 204 and no body", r)
	}
	cleared := false
	for _, rc := range r.Cookies {
		if rc.Name == c.Name && rc.Value == "" && (rc.MaxAge < 0 || (!rc.Expires.IsZero() && rc.Expires.Before(time.Now()))) {
			cleared = true
			if !rc.HttpOnly || rc.Path != "/" {
				t.Errorf("the clearing cookie %+v does not match the session cookie", rc)
			}
		}
	}
	if !cleared {
		t.Errorf("logout did not clear the cookie: %v", r.Cookies)
	}
	if got := b.cookie(c.Name, "/api/me"); got != "" {
		t.Errorf("the browser still holds the session cookie %q", got)
	}
	wantError(t, b.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	// The old id, replayed, does not work.
	replay := e.browserWithCookie(c.Name, c.Value)
	wantError(t, replay.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	wantError(t, replay.do("POST", "/api/logout", nil), http.StatusUnauthorized, "unauthenticated")
	// The other device is still logged in.
	wantUser(t, wantJSON(t, other.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice")
	// The logout was recorded (in the background: soon).
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		u := wantUser(t, wantJSON(t, e.browser().login("alice", password), http.StatusOK)["user"], "alice")
		if u["logoutDate"] != nil {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("no logout date 3 s after a logout: %v", u)
		}
	}
}

// Not parallel: it measures time.
func TestSessionIdleExpiry(t *testing.T) {
	e := newEnv(t, web.Config{SessionIdle: 200 * time.Millisecond})
	e.signUp("alice")
	b := e.loggedIn("alice")
	// Use keeps it alive past the idle time.
	for range 5 {
		time.Sleep(60 * time.Millisecond)
		wantJSON(t, b.do("GET", "/api/me", nil), http.StatusOK)
	}
	time.Sleep(400 * time.Millisecond)
	wantError(t, b.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	// And it stays expired.
	wantError(t, b.do("GET", "/api/friends", nil), http.StatusUnauthorized, "unauthenticated")
	// A new login works.
	wantJSON(t, b.login("alice", password), http.StatusOK)
	wantJSON(t, b.do("GET", "/api/me", nil), http.StatusOK)
}

// Not parallel: it measures time.
func TestSessionAbsoluteExpiry(t *testing.T) {
	e := newEnv(t, web.Config{SessionMax: 400 * time.Millisecond})
	e.signUp("alice")
	b := e.loggedIn("alice")
	start := time.Now()
	for time.Since(start) < 250*time.Millisecond {
		wantJSON(t, b.do("GET", "/api/me", nil), http.StatusOK)
		time.Sleep(50 * time.Millisecond)
	}
	for time.Since(start) < 600*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
		b.do("GET", "/api/me", nil) // use does not extend it
	}
	wantError(t, b.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
}
