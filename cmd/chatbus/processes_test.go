package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"sync"
	"testing"
	"time"
)

// user is a browser on one frontend process, calling the JSON API.
type user struct {
	t   *testing.T
	url string
	c   *http.Client
}

func newUser(t *testing.T, url string) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, url: url, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (u *user) call(method, path string, body any, want int) map[string]any {
	u.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, u.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	res, err := u.c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != want {
		u.t.Fatalf("%s %s: %d %v, want %d", method, path, res.StatusCode, out, want)
	}
	return out
}

// TestSeparateProcesses runs the system as an operator would split it: a
// broker, a backend and two frontends, each its own OS process. A user on
// each frontend chats with the other, and while both call at once, every
// answer a frontend gets is the answer to its own call. It runs on the
// embedded broker and on Apache Kafka.
func TestSeparateProcesses(t *testing.T) { onEachKafka(t, 1, testSeparateProcesses) }

func testSeparateProcesses(t *testing.T, k *kafka) {
	dir := t.TempDir()
	brokers := k.brokers
	startCmd(t, k.env, []string{"backend serving"}, "backend", "--brokers", brokers, "--data-dir", dir)
	var fronts []string
	for range 2 {
		f := startCmd(t, k.env, []string{"web gateway listening"}, "frontend", "--brokers", brokers, "--http-addr", "127.0.0.1:0")
		f.mu.Lock()
		fronts = append(fronts, f.web)
		f.mu.Unlock()
	}

	alice, bob := newUser(t, fronts[0]), newUser(t, fronts[1])
	for _, p := range []struct {
		u  *user
		id string
	}{{alice, "alice"}, {bob, "bob"}} {
		p.u.call("POST", "/api/signup", map[string]any{"userId": p.id, "userPw": p.id + "-password", "email": p.id + "@x.io", "userName": p.id}, 201)
		p.u.call("POST", "/api/login", map[string]any{"userId": p.id, "userPw": p.id + "-password"}, 200)
	}
	alice.call("POST", "/api/friends", map[string]any{"friendIds": []string{"bob"}}, 200)
	room := alice.call("POST", "/api/rooms", map[string]any{"memberIds": []string{"bob"}}, 201)["room"].(map[string]any)["roomId"]
	path := fmt.Sprintf("/api/rooms/%v/messages", room)
	alice.call("POST", path, map[string]any{"message": "hi from frontend one"}, 201)
	bob.call("POST", path, map[string]any{"message": "hi from frontend two"}, 201)
	for _, u := range []*user{alice, bob} {
		msgs := u.call("GET", path, nil, 200)["messages"].([]any)
		if len(msgs) != 2 || msgs[0].(map[string]any)["writerId"] != "alice" || msgs[1].(map[string]any)["writerId"] != "bob" {
			t.Fatalf("history: %v", msgs)
		}
	}

	var wg sync.WaitGroup
	for _, p := range []struct {
		u  *user
		id string
	}{{alice, "alice"}, {bob, "bob"}} {
		for i := range 40 {
			wg.Go(func() {
				status := fmt.Sprintf("%s %d", p.id, i)
				got := p.u.call("PUT", "/api/me/status", map[string]any{"userStatus": status}, 200)["user"].(map[string]any)
				if got["userId"] != p.id || got["userStatus"] != status {
					t.Errorf("%s set %q and was answered %v", p.id, status, got)
				}
			})
		}
	}
	wg.Wait()
}
