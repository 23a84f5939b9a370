package web

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimitKeys bounds a limiter's memory: past it, new keys are refused
// until a sweep frees room (an attack spread over more keys than this is
// slowed down as a whole rather than let through).
const maxLimitKeys = 100_000

// limiter rate-limits attempts per key (an account, an address), with a map
// swept of idle keys so it cannot grow without bound.
type limiter struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	keys  map[string]*limitEntry
}

type limitEntry struct {
	l    *rate.Limiter
	seen time.Time
}

// newLimiter allows n attempts per period, n at once.
func newLimiter(n int, per time.Duration) *limiter {
	return &limiter{every: rate.Limit(float64(n) / per.Seconds()), burst: n, keys: map[string]*limitEntry{}}
}

// allow takes one attempt for key; when none is left it returns how long to wait.
func (l *limiter) allow(key string, now time.Time) (ok bool, retry time.Duration) {
	return l.allowN(key, 1, now)
}

// allowN takes n attempts at once for key (at most the burst: more could
// never be allowed).
func (l *limiter) allowN(key string, n int, now time.Time) (ok bool, retry time.Duration) {
	n = max(1, min(n, l.burst))
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= maxLimitKeys {
			return false, time.Minute
		}
		e = &limitEntry{l: rate.NewLimiter(l.every, l.burst)}
		l.keys[key] = e
	}
	e.seen = now
	r := e.l.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets keys idle long enough to have a full bucket again.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.every) * float64(time.Second))
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, e := range l.keys {
		if now.Sub(e.seen) > full {
			delete(l.keys, k)
		}
	}
}

func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
}

// clientAddr is the address of the request's client: the peer's, or, when
// the peer is a trusted proxy, the last address of X-Forwarded-For that is
// not one of the trusted proxies.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	a := s.peerAddr(r)
	if !contains(s.cfg.TrustedProxies, a) {
		return a
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if hop = hop.Unmap(); !contains(s.cfg.TrustedProxies, hop) {
			return hop
		}
	}
	return a
}

// peerAddr is the address of the request's peer: the client, or a proxy.
func (s *Server) peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// addrKey is the rate-limit key of the request's client: its IPv4 address,
// or its IPv6 /64 (one subscriber has a whole /64).
func (s *Server) addrKey(r *http.Request) string {
	a := s.clientAddr(r)
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
