// Package web is the frontend: the web gateway that owns browser sessions,
// serves the messenger's pages and its JSON API, turns every call into a
// request to the backend (through a chatbus.Service: over Kafka in
// production), and pushes events to browsers over Server-Sent Events. It
// never reads the database.
package web

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"crypto/rand"

	"github.com/chatbus/chatbus"
)

//go:embed static
var static embed.FS

// Config configures the gateway. Zero values take the defaults noted.
type Config struct {
	Service chatbus.Service
	Logger  *slog.Logger
	// SessionIdle and SessionMax expire a session after so long unused
	// (default 24 h) and so long after login (default 30 days).
	SessionIdle, SessionMax time.Duration
	// Heartbeat is the interval of the SSE heartbeat (default 15 s).
	Heartbeat time.Duration
	// Resumable is how many recent events the gateway holds so that
	// streams can resume from their cursor (default 50,000).
	Resumable int
	// MaxBody bounds a request body (default 64 KiB), and BodyTimeout how
	// long it may take to arrive (default 30 s).
	MaxBody     int64
	BodyTimeout time.Duration
	// LoginPerAccount and LoginPerAddr are the login attempts allowed per
	// minute for one account and from one address (defaults 10 and 30).
	LoginPerAccount, LoginPerAddr int
	// Exempt lists the addresses that rate and connection limits do not
	// apply to.
	Exempt []netip.Prefix
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client.
	TrustedProxies []netip.Prefix
	// SignUpsPerAddr is the sign-ups allowed per hour from one address
	// (default 20).
	SignUpsPerAddr int
	// FriendAddsPerUser is how many ids one user may add as friends (or
	// try to) per hour (default 60): every id asked about counts, known or
	// not, so that the friend list is no way to test which ids exist.
	FriendAddsPerUser int
	// StreamsPerUser and StreamsPerAddr cap open event streams (defaults 10
	// and 20: devices and tabs; streams before login, per address).
	StreamsPerUser, StreamsPerAddr int
	// TrustedOrigins may send cross-origin requests (e.g. behind a proxy
	// that rewrites Host).
	TrustedOrigins []string
	// SecureCookies marks cookies Secure even on plain HTTP: behind a proxy
	// that ends TLS. (Over TLS served here they are Secure anyway.)
	SecureCookies bool
	// Metrics, when set, records HTTP calls and event streams.
	Metrics *Metrics
	// Sessions, when set, is where sessions are kept, shared with the
	// other frontends: they then outlive this process and are valid on
	// every frontend (see ApplySession). Otherwise they live here alone.
	Sessions chatbus.SessionLog
	// Ready, when set, is asked by GET /readyz whether the backend side is
	// reachable (the broker, the topics); the gateway adds its own feed.
	Ready func(context.Context) error
	// LogEnd, when set, says where each partition of the event log ends now
	// (the offset after its last event), in the order of the partitions
	// the feed delivers. It is asked about a cursor ahead of what this
	// frontend has read: within the log another frontend read further, and
	// the stream resumes; beyond it, the cursor was never given out, and
	// the stream gets resync. Unset (tests that feed the gateway
	// themselves), such a cursor is taken as within the log.
	LogEnd func(context.Context) ([]int64, error)
}

// Server is the gateway's HTTP handler.
type Server struct {
	cfg       Config
	svc       chatbus.Service
	log       *slog.Logger
	sessions  *sessions
	hub       *hub
	byAccount *limiter
	byAddr    *limiter
	signups   *limiter
	friendAdd *limiter // ids asked to be added, per user
	preKey    []byte   // signs the ids of streams opened before login
	handler   http.Handler
}

// New returns a gateway; Run sweeps its expired sessions until ctx is done.
func New(cfg Config) (*Server, error) {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 24 * time.Hour
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 30 * 24 * time.Hour
	}
	if cfg.Resumable <= 0 {
		cfg.Resumable = 50_000
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 30 * time.Second
	}
	if cfg.LoginPerAccount <= 0 {
		cfg.LoginPerAccount = 10
	}
	if cfg.LoginPerAddr <= 0 {
		cfg.LoginPerAddr = 30
	}
	if cfg.SignUpsPerAddr <= 0 {
		cfg.SignUpsPerAddr = 20
	}
	if cfg.FriendAddsPerUser <= 0 {
		cfg.FriendAddsPerUser = 60
	}
	if cfg.StreamsPerUser <= 0 {
		cfg.StreamsPerUser = 10
	}
	if cfg.StreamsPerAddr <= 0 {
		cfg.StreamsPerAddr = 20
	}
	s := &Server{cfg: cfg, svc: cfg.Service, log: cfg.Logger,
		hub:       newHub(cfg.Resumable),
		byAccount: newLimiter(cfg.LoginPerAccount, time.Minute),
		byAddr:    newLimiter(cfg.LoginPerAddr, time.Minute),
		signups:   newLimiter(cfg.SignUpsPerAddr, time.Hour),
		friendAdd: newLimiter(cfg.FriendAddsPerUser, time.Hour),
		preKey:    []byte(rand.Text())}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// An expired session's streams end with it.
	s.sessions = newSessions(cfg.SessionIdle, cfg.SessionMax, cfg.Sessions, s.hub.closeSession, s.log.Warn)

	// Routes are grouped by path, so that a known path called with another
	// method is answered 405 with Allow, not 404.
	mux := http.NewServeMux()
	byPath := map[string]map[string]http.HandlerFunc{}
	var paths []string
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		if byPath[path] == nil {
			byPath[path] = map[string]http.HandlerFunc{}
			paths = append(paths, path)
		}
		byPath[path][method] = rt.handler
	}
	for _, path := range paths {
		handlers := byPath[path]
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			method := r.Method
			if method == http.MethodHead {
				method = http.MethodGet
			}
			if h := handlers[method]; h != nil {
				h(w, r)
				return
			}
			allow := slices.Sorted(maps.Keys(handlers))
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeErrorBody(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s takes %s", path, strings.Join(allow, ", ")))
		})
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeNotFound, "no API call %s %s", r.Method, r.URL.Path))
	})
	assets, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	files := http.FileServerFS(assets)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	})

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeForbidden, "cross-origin request refused"))
	}))
	for _, o := range cfg.TrustedOrigins {
		if err := csrf.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	s.handler = s.observe(securityHeaders(csrf.Handler(mux)))
	return s, nil
}

type route struct {
	pattern string
	handler http.HandlerFunc
}

// routes is the API: docs/api.md documents each of them (a test checks).
func (s *Server) routes() []route {
	return []route{
		{"POST /api/signup", s.handleSignUp},
		{"POST /api/login", s.handleLogin},
		{"POST /api/logout", s.authed(s.handleLogout)},
		{"GET /api/me", s.authed(s.handleMe)},
		{"PUT /api/me/status", s.authed(s.handleStatus)},
		{"GET /api/friends", s.authed(s.handleFriends)},
		{"POST /api/friends", s.authed(s.handleAddFriends)},
		{"GET /api/rooms", s.authed(s.handleRooms)},
		{"POST /api/rooms", s.authed(s.handleOpenRoom)},
		{"GET /api/rooms/{roomId}/messages", s.authed(s.handleMessages)},
		{"POST /api/rooms/{roomId}/messages", s.authed(s.handlePost)},
		{"POST /api/rooms/{roomId}/read", s.authed(s.handleRead)},
		{"GET /api/events", s.handleEvents},
		{"GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }},
		{"GET /readyz", s.handleReady},
	}
}

// Routes lists the patterns of the API's routes.
func Routes() []string {
	var out []string
	for _, rt := range (&Server{}).routes() {
		out = append(out, rt.pattern)
	}
	return out
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// ApplySession takes in a record of the session log (Config.Sessions): run
// the log with it, as cmd/chatbus does.
func (s *Server) ApplySession(rec chatbus.SessionRecord) { s.sessions.apply(rec) }

// Run sweeps expired sessions and idle rate-limit entries until ctx is done,
// then ends every event stream.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.hub.closeAll()
			return
		case now := <-t.C:
			s.sessions.sweep()
			s.byAccount.sweep(now)
			s.byAddr.sweep(now)
			s.signups.sweep(now)
			s.friendAdd.sweep(now)
		}
	}
}

// securityHeaders sets what every response carries: a strict CSP (the UI
// loads nothing from elsewhere and runs no inline script), no MIME sniffing,
// no framing, no referrer leaks.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			// Answers are one user's: no cache, shared or the browser's, keeps them.
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}
