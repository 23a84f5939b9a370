package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/chatbus/chatbus/web"
)

var crossSite = []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}

func TestCrossSiteRequestsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	path := fmt.Sprintf("/api/rooms/%d/messages", w.room)

	calls := []struct {
		method, path string
		body         string
		b            *browser
	}{
		{"POST", "/api/signup", `{"userId":"zed","userPw":"correct-horse","email":"zed@example.com","userName":"Zed"}`, w.browser()},
		{"POST", "/api/login", `{"userId":"alice","userPw":"` + password + `"}`, w.browser()},
		{"POST", "/api/logout", "", w.alice},
		{"PUT", "/api/me/status", `{"userStatus":"pwned"}`, w.alice},
		{"POST", "/api/friends", `{"friendIds":["carol"]}`, w.alice},
		{"POST", "/api/rooms", `{"memberIds":["bob"],"name":"evil"}`, w.alice},
		{"POST", path, `{"message":"evil"}`, w.alice},
	}
	headers := map[string][]string{
		"Origin and Sec-Fetch-Site": crossSite,
		"Sec-Fetch-Site only":       {"Sec-Fetch-Site", "cross-site"},
		"Origin only":               {"Origin", "https://evil.example"},
		"same site, other origin":   {"Origin", "https://other.127.0.0.1.nip.io", "Sec-Fetch-Site", "same-site"},
	}
	for _, c := range calls {
		for name, h := range headers {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := c.b.do(c.method, c.path, body, h...)
			if r.Status != http.StatusForbidden {
				t.Errorf("%s: %v; want 403", name, r)
			}
			if len(r.Cookies) != 0 {
				t.Errorf("%s: a refused call set cookies: %v", name, r.Cookies)
			}
		}
	}
	// Nothing happened: alice is still logged in, with her status, friends
	// and rooms as they were, and the room holds no message.
	if u := wantUser(t, wantJSON(t, w.alice.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice"); u["userStatus"] != "" {
		t.Errorf("a cross-site call set the status: %v", u)
	}
	if f := arr(t, wantJSON(t, w.alice.do("GET", "/api/friends", nil), http.StatusOK)["friends"], "friends"); len(f) != 1 {
		t.Errorf("a cross-site call added friends: %v", f)
	}
	if rooms := arr(t, wantJSON(t, w.alice.do("GET", "/api/rooms", nil), http.StatusOK)["rooms"], "rooms"); len(rooms) != 1 {
		t.Errorf("a cross-site call opened a room: %v", rooms)
	}
	if seqs, _ := w.alice.history(w.room, ""); len(seqs) != 0 {
		t.Errorf("a cross-site post was stored: %v", seqs)
	}
	wantError(t, w.browser().login("zed", "correct-horse"), http.StatusUnauthorized, "unauthenticated")

	// The same calls from the page itself go through.
	sameOrigin := []string{"Origin", w.srv.URL, "Sec-Fetch-Site", "same-origin"}
	wantJSON(t, w.alice.do("PUT", "/api/me/status", `{"userStatus":"ok"}`, sameOrigin...), http.StatusOK)
	wantJSON(t, w.alice.do("POST", path, `{"message":"mine"}`, sameOrigin...), http.StatusCreated)
	wantJSON(t, w.alice.do("POST", path, `{"message":"mine too"}`, "Origin", w.srv.URL), http.StatusCreated)
	wantJSON(t, w.browser().do("POST", "/api/login", `{"userId":"bob","userPw":"`+password+`"}`, sameOrigin...), http.StatusOK)
}

// Every error of the API is {"error":{"code","message"}}, the cross-site
// refusal too.
func TestCrossSiteRefusalIsJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	r := e.browser().do("POST", "/api/login", `{"userId":"alice","userPw":"`+password+`"}`, crossSite...)
	if r.Status != http.StatusForbidden {
		t.Fatalf("%v; want 403", r)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("the cross-site refusal is not the API's JSON error: %v (Content-Type %q); web/server.go:116 New: no csrf.SetDenyHandler", r, r.Header.Get("Content-Type"))
	}
	wantError(t, r, http.StatusForbidden, "forbidden")
}

func TestTrustedOrigins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{TrustedOrigins: []string{"https://chat.example"}})
	e.signUp("alice")
	b := e.browser()
	wantJSON(t, b.do("POST", "/api/login", `{"userId":"alice","userPw":"`+password+`"}`,
		"Origin", "https://chat.example", "Sec-Fetch-Site", "cross-site"), http.StatusOK)
	r := b.do("PUT", "/api/me/status", `{"userStatus":"x"}`, crossSite...)
	if r.Status != http.StatusForbidden {
		t.Errorf("an untrusted origin beside a trusted one: %v", r)
	}
	if _, err := web.New(web.Config{Service: e.m, TrustedOrigins: []string{"not an origin"}}); err == nil {
		t.Error("web.New took a malformed trusted origin")
	}
}

// State changes only by POST/PUT/DELETE: a GET (a link, an <img>) changes
// nothing.
func TestNoStateChangeByGet(t *testing.T) {
	t.Parallel()
	w := newWorld(t, web.Config{})
	anon := w.browser()
	for _, c := range []struct {
		b    *browser
		path string
	}{
		{w.alice, "/api/logout"},
		{anon, "/api/login?userId=alice&userPw=" + password},
		{anon, "/api/signup?userId=zed&userPw=correct-horse&email=zed@example.com&userName=Zed"},
		{w.alice, "/api/me/status?userStatus=pwned"},
	} {
		for _, method := range []string{"GET", "HEAD"} {
			r := c.b.do(method, c.path, nil)
			if r.Status < 400 {
				t.Errorf("%v; want a 404 or 405", r)
			}
			if len(r.Cookies) != 0 {
				t.Errorf("%v set cookies: %v", r, r.Cookies)
			}
		}
	}
	// Reads ignore would-be writes in their query.
	w.alice.do("GET", "/api/friends?friendIds=carol", nil)
	w.alice.do("GET", "/api/rooms?memberIds=carol&name=x", nil)
	w.alice.do("GET", fmt.Sprintf("/api/rooms/%d/messages?message=hi", w.room), nil)

	if u := wantUser(t, wantJSON(t, w.alice.do("GET", "/api/me", nil), http.StatusOK)["user"], "alice"); u["userStatus"] != "" {
		t.Errorf("a GET set the status: %v", u)
	}
	wantError(t, anon.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	wantError(t, w.browser().login("zed", "correct-horse"), http.StatusUnauthorized, "unauthenticated")
	if f := arr(t, wantJSON(t, w.alice.do("GET", "/api/friends", nil), http.StatusOK)["friends"], "friends"); len(f) != 1 {
		t.Errorf("a GET added friends: %v", f)
	}
	if rooms := arr(t, wantJSON(t, w.alice.do("GET", "/api/rooms", nil), http.StatusOK)["rooms"], "rooms"); len(rooms) != 1 {
		t.Errorf("a GET opened a room: %v", rooms)
	}
	if seqs, _ := w.alice.history(w.room, ""); len(seqs) != 0 {
		t.Errorf("a GET posted: %v", seqs)
	}
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, got)
	}
	csp := h.Get("Content-Security-Policy")
	if csp == "" {
		t.Errorf("%s: no Content-Security-Policy", what)
		return
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "unsafe-hashes"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: the CSP allows %s: %s", what, bad, csp)
		}
	}
	directives := map[string][]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			directives[strings.ToLower(f[0])] = f[1:]
		}
	}
	script, ok := directives["script-src"]
	if !ok {
		script, ok = directives["default-src"]
	}
	if !ok {
		t.Errorf("%s: the CSP restricts no scripts: %s", what, csp)
	}
	for _, src := range script {
		if src == "*" || src == "data:" || src == "http:" || src == "https:" || src == "blob:" {
			t.Errorf("%s: scripts may come from %s: %s", what, src, csp)
		}
	}
	if obj, ok := directives["object-src"]; ok && strings.Join(obj, " ") != "'none'" {
		t.Errorf("%s: object-src %v", what, obj)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{})
	e.signUp("alice")
	alice, anon := e.loggedIn("alice"), e.browser()
	for _, c := range []struct {
		b            *browser
		method, path string
		body         any
		status       int
	}{
		{anon, "GET", "/", nil, 200},
		{anon, "GET", "/app.js", nil, 200},
		{anon, "GET", "/style.css", nil, 200},
		{anon, "GET", "/no-such-file", nil, 404},
		{anon, "POST", "/", nil, 405},
		{anon, "GET", "/api/me", nil, 401},
		{anon, "GET", "/api/nope", nil, 404},
		{anon, "POST", "/api/login", `{`, 400},
		{alice, "GET", "/api/me", nil, 200},
		{alice, "GET", "/api/rooms", nil, 200},
		{alice, "POST", "/api/friends", `{"friendIds":["nobody"]}`, 404},
		{alice, "PUT", "/api/me/status", `{"userStatus":"x"}`, 200},
		{alice, "PUT", "/api/me/status", `{"userStatus":"x"}`, 403}, // with crossSite below
	} {
		var r *result
		if c.status == 403 {
			r = c.b.do(c.method, c.path, c.body, crossSite...)
		} else {
			r = c.b.do(c.method, c.path, c.body)
		}
		if r.Status != c.status {
			t.Errorf("%v; want %d", r, c.status)
		}
		checkSecurityHeaders(t, r.Method+" "+r.Path, r.Header)
	}
	if r := anon.do("GET", "/", nil); !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("the UI is served as %q", r.Header.Get("Content-Type"))
	}
	checkSecurityHeaders(t, "GET /api/events", alice.events().resp.Header)
}

// loginFrom sends a login straight to the handler as if from addr (the test
// server's clients all come from 127.0.0.1).
func loginFrom(e *env, addr, id, pw string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/api/login", strings.NewReader(`{"userId":"`+id+`","userPw":"`+pw+`"}`))
	req.RemoteAddr = addr
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.gw.ServeHTTP(rec, req)
	return rec
}

func wantRateLimited(t *testing.T, r *result) {
	t.Helper()
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	ra := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(ra)
	if err != nil || n < 1 || n > 60 {
		t.Errorf("Retry-After %q, want a number of seconds in [1, 60]", ra)
	}
	if len(r.Cookies) != 0 {
		t.Errorf("a refused login set cookies: %v", r.Cookies)
	}
}

func TestLoginRateLimitPerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{LoginPerAccount: 3, LoginPerAddr: 100})
	e.signUp("alice")
	e.signUp("bob")
	b := e.browser()
	for range 3 {
		wantError(t, b.login("alice", "wrong-password"), http.StatusUnauthorized, "unauthenticated")
	}
	// Even the right password is refused now, in any spelling of the id.
	wantRateLimited(t, b.login("alice", password))
	wantRateLimited(t, e.browser().login(" ALICE ", password))
	wantError(t, b.do("GET", "/api/me", nil), http.StatusUnauthorized, "unauthenticated")
	// Other accounts are not affected.
	wantJSON(t, e.browser().login("bob", password), http.StatusOK)
	// The limit is the account's: from another address it is refused too.
	if rec := loginFrom(e, "192.0.2.7:4444", "alice", password); rec.Code != http.StatusTooManyRequests {
		t.Errorf("alice from another address: %d %s", rec.Code, rec.Body)
	}
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{LoginPerAccount: 100, LoginPerAddr: 3})
	e.signUp("alice")
	b := e.browser()
	for _, id := range []string{"u1", "u2", "u3"} {
		wantError(t, b.login(id, "wrong-password"), http.StatusUnauthorized, "unauthenticated")
	}
	wantRateLimited(t, b.login("alice", password))
	// Another address is not affected, until it spends its own attempts.
	if rec := loginFrom(e, "192.0.2.7:4444", "alice", password); rec.Code != http.StatusOK {
		t.Fatalf("alice from another address: %d %s", rec.Code, rec.Body)
	}
	loginFrom(e, "192.0.2.7:4445", "u4", "x")
	loginFrom(e, "192.0.2.7:4446", "u5", "x")
	rec := loginFrom(e, "192.0.2.7:4447", "alice", password)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("the fourth login from 192.0.2.7: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	// IPv6 addresses are limited as well.
	for i := range 3 {
		loginFrom(e, "[2001:db8::1]:"+strconv.Itoa(5000+i), "u6", "x")
	}
	if rec := loginFrom(e, "[2001:db8::1]:6000", "alice", password); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the fourth login from 2001:db8::1: %d %s", rec.Code, rec.Body)
	}
}

func TestLoginRateLimitExempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, web.Config{LoginPerAccount: 3, LoginPerAddr: 3,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	e.signUp("alice")
	b := e.browser()
	for range 8 {
		wantError(t, b.login("alice", "wrong-password"), http.StatusUnauthorized, "unauthenticated")
	}
	wantJSON(t, b.login("alice", password), http.StatusOK)
	// Only the exempt prefix is: another address is limited.
	for i := range 3 {
		if rec := loginFrom(e, "192.0.2.7:4444", "alice", "wrong-password"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d from 192.0.2.7: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	if rec := loginFrom(e, "192.0.2.7:4444", "alice", password); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the fourth login from 192.0.2.7: %d %s", rec.Code, rec.Body)
	}
}
