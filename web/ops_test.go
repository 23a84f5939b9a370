package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/web"
)

// metric is the value of one series (the count of a histogram), 0 when absent.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

// TestShutdownRetryHint: when the gateway stops, each open stream is told
// to come back within a few seconds (to another frontend behind the
// balancer) and ends; new streams are refused with 503 and Retry-After, and
// /readyz says the frontend is stopping.
func TestShutdownRetryHint(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	gw, err := web.New(web.Config{Service: newMessenger(t), Metrics: web.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	gw.Start("local", []int64{0}, []int64{0})
	srv := httptest.NewServer(gw)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { gw.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	if res, err := http.Get(srv.URL + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("/readyz before shutdown: %v %v", res, err)
	}
	res, err := http.Get(srv.URL + "/api/events")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /api/events: %v %v", res, err)
	}
	defer res.Body.Close()
	if id := res.Header.Get("X-Request-Id"); id == "" {
		t.Error("the stream's response has no X-Request-Id")
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for l := range lines {
		if l == "event: ready" {
			break
		}
	}
	if n := metric(t, reg, "chatbus_sse_connections", map[string]string{"authenticated": "false"}); n != 1 {
		t.Errorf("open anonymous streams: %v, want 1", n)
	}

	cancel()
	<-done
	var retry []string
	for l := range lines { // until the stream ends
		if ms, ok := strings.CutPrefix(l, "retry: "); ok {
			retry = append(retry, ms)
		}
	}
	if len(retry) != 1 {
		t.Fatalf("retry lines after the opening %v, want one at shutdown", retry)
	}
	if ms, err := strconv.Atoi(retry[0]); err != nil || ms < 500 || ms >= 3000 {
		t.Errorf("shutdown retry: %q ms, want 500–3000", retry[0])
	}
	if n := metric(t, reg, "chatbus_sse_streams_dropped_total", map[string]string{"reason": "shutdown"}); n != 1 {
		t.Errorf("streams dropped at shutdown: %v, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for metric(t, reg, "chatbus_sse_connections", nil) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := metric(t, reg, "chatbus_sse_connections", nil); n != 0 {
		t.Errorf("open streams after shutdown: %v", n)
	}

	res2, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusServiceUnavailable || res2.Header.Get("Retry-After") == "" {
		t.Errorf("a stream opened while stopping: %d, Retry-After %q", res2.StatusCode, res2.Header.Get("Retry-After"))
	}
	res3, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ NotReady []string }
	json.NewDecoder(res3.Body).Decode(&body)
	res3.Body.Close()
	if res3.StatusCode != http.StatusServiceUnavailable || len(body.NotReady) != 1 || body.NotReady[0] != "stopping" {
		t.Errorf("/readyz while stopping: %d %v", res3.StatusCode, body)
	}
}

// failingFriends fails the friend list for an internal reason.
type failingFriends struct{ *chatbus.Messenger }

func (failingFriends) Friends(context.Context, string) ([]chatbus.Friend, error) {
	return nil, chatbus.Errorf(chatbus.CodeInternal, "the database is gone")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *lockedBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// TestHTTPMetricsAndRequestIDs: calls are timed by route pattern and status
// class; each has an X-Request-Id (made anew: the client is no trusted proxy), and a 5xx
// is logged with it; resumes, resyncs and streams closed at logout are
// counted, and so are the events delivered.
func TestHTTPMetricsAndRequestIDs(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	logs := &lockedBuffer{}
	m := newMessenger(t)
	e := newEnv(t, web.Config{Service: failingFriends{m}, Metrics: web.NewMetrics(reg),
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	e.gw.Start("local", []int64{0}, []int64{0})
	e.signUp("alice")
	e.signUp("bob")
	alice := e.browser()
	if r := alice.login("alice", password); r.Status != 200 {
		t.Fatalf("login: %v", r)
	}
	if n := metric(t, reg, "chatbus_http_request_duration_seconds", map[string]string{"route": "/api/signup", "method": "POST", "status": "2xx"}); n != 2 {
		t.Errorf("sign-ups timed: %v, want 2", n)
	}
	alice.do("GET", "/api/nothing-here", nil)
	if n := metric(t, reg, "chatbus_http_request_duration_seconds", map[string]string{"route": "/api/", "status": "4xx"}); n != 1 {
		t.Errorf("unknown API calls timed: %v, want 1", n)
	}

	// Only a trusted proxy's id is kept (TestRequestIDFromTrustedProxies).
	r := alice.do("GET", "/api/me", nil, "X-Request-Id", "lb-1234")
	if got := r.Header.Get("X-Request-Id"); got == "" || got == "lb-1234" {
		t.Errorf("a client's request id came back as %q", got)
	}
	r = alice.do("GET", "/api/me", nil, "X-Request-Id", "bad id\" with=quotes")
	if got := r.Header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, `" =`) {
		t.Errorf("an unusable request id came back as %q", got)
	}
	r = alice.do("GET", "/api/friends", nil)
	id := r.Header.Get("X-Request-Id")
	if r.Status != 500 || id == "" {
		t.Fatalf("a failing call: %d, X-Request-Id %q", r.Status, id)
	}
	if !strings.Contains(logs.String(), "requestId="+id) || !strings.Contains(logs.String(), "route=/api/friends") {
		t.Errorf("the 5xx is not logged with its route and request id %s:\n%s", id, logs)
	}

	// Streams: a fresh one, a resumed one, one that must resync.
	s := alice.events()
	ready := s.next(5 * time.Second)
	alice.events().ready()
	resumed := alice.eventsFrom(ready.ID)
	resumed.ready()
	alice.eventsFrom("not-a-cursor").ready()
	if n := metric(t, reg, "chatbus_sse_resumes_total", nil); n != 1 {
		t.Errorf("resumes: %v, want 1", n)
	}
	if n := metric(t, reg, "chatbus_sse_resyncs_total", nil); n != 1 {
		t.Errorf("resyncs: %v, want 1", n)
	}
	e.gw.Deliver(0, 0, chatbus.Event{Kind: chatbus.EventFriend, UserID: "alice", Data: json.RawMessage(`{"userId":"bob"}`)})
	if ev := s.next(5 * time.Second); ev.Name != chatbus.EventFriend {
		t.Fatalf("got %q, want a friend event", ev.Name)
	}
	deadline := time.Now().Add(5 * time.Second)
	for metric(t, reg, "chatbus_sse_events_delivered_total", nil) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // each of alice's four streams gets it
	}
	if n := metric(t, reg, "chatbus_sse_events_delivered_total", nil); n != 4 {
		t.Errorf("events delivered: %v, want 4", n)
	}
	if n := metric(t, reg, "chatbus_sse_connections", map[string]string{"authenticated": "true"}); n != 4 {
		t.Errorf("open streams: %v, want 4", n)
	}
	alice.do("POST", "/api/logout", nil)
	if !s.closedWithin(5 * time.Second) {
		t.Fatal("the stream outlived the logout")
	}
	deadline = time.Now().Add(5 * time.Second)
	for metric(t, reg, "chatbus_sse_streams_dropped_total", map[string]string{"reason": "session"}) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := metric(t, reg, "chatbus_sse_streams_dropped_total", map[string]string{"reason": "session"}); n != 4 {
		t.Errorf("streams closed at logout: %v, want 4", n)
	}
}
