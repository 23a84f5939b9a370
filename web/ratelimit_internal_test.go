package web

import (
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestLimiterIsBounded(t *testing.T) {
	l := newLimiter(10, time.Minute)
	now := time.Now()
	for i := range maxLimitKeys {
		l.keys[strconv.Itoa(i)] = &limitEntry{seen: now}
	}
	if ok, wait := l.allow("one more", now); ok || wait <= 0 {
		t.Fatalf("a full limiter took a new key: %v %v", ok, wait)
	}
	l.sweep(now.Add(time.Hour))
	if ok, _ := l.allow("one more", now.Add(time.Hour)); !ok {
		t.Fatal("after a sweep a new key is refused")
	}
}

func TestClientAddr(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	for _, c := range []struct{ remote, xff, want string }{
		{"192.0.2.7:5000", "", "192.0.2.7"},
		{"192.0.2.7:5000", "203.0.113.9", "192.0.2.7"}, // not a trusted proxy: its header is ignored
		{"10.1.2.3:5000", "203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:5000", "198.51.100.1, 203.0.113.9, 10.9.9.9", "203.0.113.9"},
		{"[2001:db8:1:2:3:4:5:6]:5000", "", "2001:db8:1:2::/64"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.addrKey(r); got != c.want {
			t.Errorf("%s with %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}
