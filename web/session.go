package web

import (
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"github.com/chatbus/chatbus"
)

// Session is a logged-in browser.
type Session struct {
	key      [32]byte // the hash of the cookie's id; the id itself is not kept
	User     chatbus.User
	Created  time.Time
	LastSeen time.Time
}

// sessions keeps the sessions of this frontend process, by the SHA-256 of
// their id, so that a dump of memory holds no usable id. Ids have 130 random
// bits (crypto/rand.Text), and a login always makes a new one.
type sessions struct {
	mu       sync.Mutex
	byKey    map[[32]byte]*Session
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
	ended    func(key [32]byte) // called for each session that expires
}

func newSessions(idle, absolute time.Duration, ended func(key [32]byte)) *sessions {
	return &sessions{byKey: map[[32]byte]*Session{}, idle: idle, absolute: absolute, now: time.Now, ended: ended}
}

func (s *sessions) expired(sess *Session, now time.Time) bool {
	return now.Sub(sess.LastSeen) > s.idle || now.Sub(sess.Created) > s.absolute
}

// create makes a session for u and returns its id, for the cookie.
func (s *sessions) create(u chatbus.User) (id string, sess *Session) {
	id = rand.Text()
	now := s.now()
	sess = &Session{key: sha256.Sum256([]byte(id)), User: u, Created: now, LastSeen: now}
	s.mu.Lock()
	s.byKey[sess.key] = sess
	s.mu.Unlock()
	return id, sess
}

// get returns the live session of id and marks it seen; an expired one is
// deleted.
func (s *sessions) get(id string) *Session {
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byKey[key]
	if sess == nil {
		return nil
	}
	if s.expired(sess, now) {
		delete(s.byKey, key)
		s.ended(key)
		return nil
	}
	sess.LastSeen = now
	return sess
}

// live tells whether a session still exists, without counting as a use:
// an open event stream alone does not keep a session from idling out.
func (s *sessions) live(key [32]byte) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byKey[key]
	if sess != nil && s.expired(sess, now) {
		delete(s.byKey, key)
		s.ended(key)
		return false
	}
	return sess != nil
}

// setUser replaces the user a session shows (after a status change).
func (s *sessions) setUser(sess *Session, u chatbus.User) {
	s.mu.Lock()
	sess.User = u
	s.mu.Unlock()
}

func (s *sessions) user(sess *Session) chatbus.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sess.User
}

func (s *sessions) delete(sess *Session) {
	s.mu.Lock()
	delete(s.byKey, sess.key)
	s.mu.Unlock()
}

// sweep deletes expired sessions; it runs now and then.
func (s *sessions) sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sess := range s.byKey {
		if s.expired(sess, now) {
			delete(s.byKey, k)
			s.ended(k)
		}
	}
}

const sessionCookie = "chatbus_session"

// secure tells whether the gateway's cookies are Secure for r: over TLS, or
// behind a proxy that ends TLS (--secure-cookies).
func (s *Server) secure(r *http.Request) bool { return s.cfg.SecureCookies || r.TLS != nil }

// cookieName is the name of one of the gateway's cookies for r: a Secure
// cookie has the __Host- prefix, with which browsers take it only when it is
// Secure, for the whole host (Path=/) and no Domain — so a sibling
// subdomain or a page served over plain HTTP cannot set or shadow it.
func (s *Server) cookieName(r *http.Request, base string) string {
	if s.secure(r) {
		return "__Host-" + base
	}
	return base
}

// setSessionCookie sets the session cookie: HttpOnly, SameSite=Lax, and
// Secure (and __Host-) when the request came over TLS.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(r, sessionCookie), Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secure(r), MaxAge: int(s.cfg.SessionMax.Seconds())})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(r, sessionCookie), Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secure(r), MaxAge: -1})
}
