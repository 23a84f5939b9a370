package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const sessionCookie = "chatbus_session"

// api calls one gateway's JSON API as a user whose session cookie it holds.
type api struct {
	base *url.URL
	hc   *http.Client
}

// newTransport keeps enough connections for every sender and setup call;
// each event stream holds one more of its own.
func newTransport(idle int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // a proxy would measure itself
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// statusError is an answer other than the one expected.
type statusError struct {
	Method, Path string
	Status       int
	Code, Msg    string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s %s", e.Method, e.Path, e.Status, e.Code, e.Msg)
	if e.Status == http.StatusTooManyRequests {
		s += " — the server's rate limits stop the bench: start it with --limits-exempt 127.0.0.1/32 (the bench machine's address)"
	}
	return s
}

// call sends body as JSON and decodes a JSON answer into out (if not nil);
// any status but want is a *statusError. It returns the Set-Cookie header's
// session, if any.
func (a *api) call(ctx context.Context, session, method, path string, body, out any, want int) (string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base.String()+path, rd)
	if err != nil {
		return "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if session != "" {
		req.Header.Set("Cookie", session)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(data, &e)
		return "", &statusError{Method: method, Path: path, Status: resp.StatusCode, Code: e.Error.Code, Msg: e.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return "", fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	for _, c := range resp.Cookies() {
		// Over TLS (or with --secure-cookies) the name has the __Host- prefix.
		if c.Name == sessionCookie || c.Name == "__Host-"+sessionCookie {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", nil
}
