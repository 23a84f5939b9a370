package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadyz: /readyz is 503 naming what is not ready — nothing checked
// yet, a failing check, a stopping process — and 200 when every check
// passes; /healthz is 200 throughout.
func TestReadyz(t *testing.T) {
	o := newOps()
	srv := httptest.NewServer(o.handler())
	defer srv.Close()
	get := func(path string) (int, map[string]any) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	notReady := func(body map[string]any) map[string]any { m, _ := body["notReady"].(map[string]any); return m }

	if code, body := get("/readyz"); code != 503 || notReady(body)["process"] != "starting" {
		t.Errorf("no checks yet: %d %v", code, body)
	}
	o.expect("kafka", "database")
	o.check("kafka", func(context.Context) error { return nil })
	if code, body := get("/readyz"); code != 503 || notReady(body)["database"] != "starting" || notReady(body)["kafka"] != nil {
		t.Errorf("database not checked yet: %d %v", code, body)
	}
	o.check("database", func(context.Context) error { return errors.New("database is locked") })
	if code, body := get("/readyz"); code != 503 || notReady(body)["database"] != "database is locked" {
		t.Errorf("database failing: %d %v", code, body)
	}
	o.check("database", func(context.Context) error { return nil })
	if code, body := get("/readyz"); code != 200 || body["status"] != "ready" {
		t.Errorf("all checks pass: %d %v", code, body)
	}
	// A check that hangs is cut off, and named.
	o.check("kafka", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if code, body := get("/readyz"); code != 503 || notReady(body)["kafka"] == nil {
		t.Errorf("a hanging check: %d %v", code, body)
	}
	o.check("kafka", func(context.Context) error { return nil })
	o.stopping.Store(true)
	if code, body := get("/readyz"); code != 503 || notReady(body)["process"] != "stopping" {
		t.Errorf("stopping: %d %v", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
}

var opsURL = regexp.MustCompile(`ops server listening" url=(\S+)`)

// scrape reads /metrics and sums each series name's samples, over labels
// that hold every label=value of match (name{…} value lines).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		name, labels, _ := strings.Cut(series, "{")
		out[name] += v
		if labels != "" {
			out[series] = v
		}
	}
	return out
}

// TestOpsEndpoints runs the real program with --ops-addr: alive at once,
// ready once it can serve; after some traffic /metrics shows every part's
// metrics with live values; and SIGTERM ends an event stream with a retry
// hint, /readyz having said "stopping".
func TestOpsEndpoints(t *testing.T) {
	p := startRun(t, t.TempDir(), "--ops-addr", "127.0.0.1:0", "--limits-exempt", "127.0.0.1/32")
	m := opsURL.FindStringSubmatch(p.logs())
	if m == nil {
		t.Fatalf("no ops URL in the logs:\n%s", p.logs())
	}
	ops := m[1]
	if res, err := http.Get(ops + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", res, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(ops + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 {
			for _, c := range []string{"kafka", "database", "events"} {
				if !strings.Contains(string(body), `"`+c+`"`) {
					t.Errorf("/readyz does not check %s: %s", c, body)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 20 s: %d %s", res.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, err := http.Get(p.web + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("public /readyz: %v %v", res, err)
	}
	if res, _ := http.Get(p.web + "/metrics"); res.StatusCode == 200 {
		t.Error("/metrics is served on the public port")
	}

	alice, bob := newUser(t, p.web), newUser(t, p.web)
	for _, u := range []struct {
		u  *user
		id string
	}{{alice, "alice"}, {bob, "bob"}} {
		u.u.call("POST", "/api/signup", map[string]any{"userId": u.id, "userPw": u.id + "-password", "email": u.id + "@x.io", "userName": u.id}, 201)
		u.u.call("POST", "/api/login", map[string]any{"userId": u.id, "userPw": u.id + "-password"}, 200)
	}
	alice.call("POST", "/api/friends", map[string]any{"friendIds": []string{"bob"}}, 200)
	room := alice.call("POST", "/api/rooms", map[string]any{"memberIds": []string{"bob"}}, 201)["room"].(map[string]any)["roomId"]

	// Bob's stream gets Alice's message.
	res, err := bob.c.Get(p.web + "/api/events")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("bob's stream: %v %v", res, err)
	}
	defer res.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	await := func(prefix string) {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the stream ended before %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q on the stream", prefix)
			}
		}
	}
	await("event: ready")
	alice.call("POST", fmt.Sprintf("/api/rooms/%v/messages", room), map[string]any{"message": "hi"}, 201)
	await("event: message")

	got := scrape(t, ops)
	for _, name := range []string{
		`chatbus_backend_request_duration_seconds_count{op="chat"}`,
		`chatbus_backend_requests_total{code="ok",op="signup"}`,
		`chatbus_frontend_request_duration_seconds_count{op="login"}`,
		`chatbus_http_request_duration_seconds_count{method="POST",route="/api/rooms/{roomId}/messages",status="2xx"}`,
		`chatbus_db_transaction_duration_seconds_count{kind="update"}`,
		`chatbus_db_transaction_duration_seconds_count{kind="view"}`,
		`chatbus_relay_events_published_total`,
		`chatbus_sse_connections{authenticated="true"}`,
		`chatbus_sse_events_delivered_total`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[name])
		}
	}
	for _, name := range []string{"chatbus_backend_consumer_lag", "chatbus_feed_lag", "chatbus_frontend_replies_timed_out_total",
		"chatbus_sse_streams_dropped_total", "chatbus_backend_dead_letters_total", "chatbus_sse_resumes_total", "chatbus_sse_resyncs_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}

	// SIGTERM: the stream is told to come back soon, elsewhere, then ends.
	p.cmd.Process.Signal(syscall.SIGTERM)
	await("retry: ")
	for range lines {
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", p.logs())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.logs())
	}
}
