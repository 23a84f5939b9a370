package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"github.com/chatbus/chatbus"
)

// Session is a logged-in browser.
type Session struct {
	key       [32]byte // the hash of the cookie's id; the id itself is not kept
	User      chatbus.User
	userAt    time.Time // when User was read from the backend
	Created   time.Time
	LastSeen  time.Time
	published time.Time // the LastSeen the session log holds
}

// sessions keeps the sessions, by the SHA-256 of their id, so that a dump
// of memory — or of the session log — holds no usable id. Ids have 130
// random bits (crypto/rand.Text), and a login always makes a new one.
//
// With a log (chatbus.SessionLog), this frontend's sessions are those of
// every frontend: it writes each login, use (now and then), status change
// and logout there, and applies what the others write; a cookie it does
// not know is looked for in the log before it is refused. Without one they
// live in this process alone.
type sessions struct {
	mu       sync.Mutex
	byKey    map[[32]byte]*Session
	over     map[[32]byte]time.Time // ended sessions, until they would have expired: nothing brings them back
	idle     time.Duration
	absolute time.Duration
	// renew is how stale the log's LastSeen of a session may grow before
	// it is written again; idle expiry waits for it too, so that another
	// frontend, which knows of the last use only by the log, does not end a
	// session early.
	renew time.Duration
	now   func() time.Time
	ended func(key [32]byte) // called for each session that ends here (expiry, a logout elsewhere)
	log   chatbus.SessionLog
	warn  func(msg string, args ...any)
}

func newSessions(idle, absolute time.Duration, log chatbus.SessionLog, ended func(key [32]byte), warn func(string, ...any)) *sessions {
	s := &sessions{byKey: map[[32]byte]*Session{}, over: map[[32]byte]time.Time{}, idle: idle, absolute: absolute,
		now: time.Now, ended: ended, log: log, warn: warn}
	if log != nil {
		// 1% of the idle time, within [1 s, 15 min]: with the default 24 h,
		// a busy session is written every 14 minutes at most.
		s.renew = min(max(idle/100, time.Second), 15*time.Minute)
	}
	return s
}

func (s *sessions) expired(sess *Session, now time.Time) bool {
	return now.Sub(sess.LastSeen) > s.idle+s.renew || now.Sub(sess.Created) > s.absolute
}

func (s *sessions) record(sess *Session) chatbus.SessionRecord {
	return chatbus.SessionRecord{Key: sess.key, User: sess.User, UserAt: sess.userAt, Created: sess.Created, Seen: sess.LastSeen}
}

// create makes a session for u and returns its id, for the cookie, once
// the log has it (every frontend will know it).
func (s *sessions) create(ctx context.Context, u chatbus.User) (id string, sess *Session, err error) {
	id = rand.Text()
	now := s.now()
	sess = &Session{key: sha256.Sum256([]byte(id)), User: u, userAt: now, Created: now, LastSeen: now, published: now}
	if s.log != nil {
		if err := s.log.Save(ctx, s.record(sess)); err != nil {
			return "", nil, err
		}
	}
	s.mu.Lock()
	s.byKey[sess.key] = sess
	s.mu.Unlock()
	return id, sess, nil
}

// get returns the live session of id and marks it seen; an expired one is
// deleted. An id this frontend does not know is looked for in the log: it
// may have been made a moment ago on another frontend, or before this one
// started.
func (s *sessions) get(ctx context.Context, id string) *Session {
	key := sha256.Sum256([]byte(id))
	sess := s.use(key)
	if sess != nil || s.log == nil || !plausibleID(id) {
		return sess
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.log.Sync(ctx); err != nil {
		s.warn("read the sessions", "err", err)
		return nil
	}
	return s.use(key)
}

// plausibleID tells whether id could be one this gateway made (26 base32
// characters), so that garbage costs no look in the log.
func plausibleID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range id {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// use returns the live session of key, marks it seen, and writes that to
// the log when the log's copy has grown stale.
func (s *sessions) use(key [32]byte) *Session {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byKey[key]
	if sess == nil {
		return nil
	}
	if s.expired(sess, now) {
		s.drop(key)
		return nil
	}
	sess.LastSeen = now
	if s.log != nil && now.Sub(sess.published) >= s.renew {
		sess.published = now
		s.saveLater(s.record(sess))
	}
	return sess
}

// saveLater writes rec to the log in the background: a renewal or a new
// status is not worth holding a call up for (if it is lost, the next
// renewal carries it).
func (s *sessions) saveLater(rec chatbus.SessionRecord) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.log.Save(ctx, rec); err != nil {
			s.warn("save a session", "err", err)
		}
	}()
}

// drop deletes a session here and ends its streams; s.mu is held.
func (s *sessions) drop(key [32]byte) {
	delete(s.byKey, key)
	s.ended(key)
}

// live tells whether a session still exists, without counting as a use:
// an open event stream alone does not keep a session from idling out.
func (s *sessions) live(key [32]byte) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byKey[key]
	if sess != nil && s.expired(sess, now) {
		s.drop(key)
		return false
	}
	return sess != nil
}

// setUser replaces the user a session shows (after a status change).
func (s *sessions) setUser(sess *Session, u chatbus.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.User, sess.userAt = u, s.now()
	if s.log != nil {
		s.saveLater(s.record(sess))
	}
}

func (s *sessions) user(sess *Session) chatbus.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sess.User
}

// delete ends a session: in the log first, so that it ends on every
// frontend; if the log cannot be written, it does not end here either.
func (s *sessions) delete(ctx context.Context, sess *Session) error {
	if s.log != nil {
		rec := s.record(sess)
		rec.Ended = true
		if err := s.log.Save(ctx, rec); err != nil {
			return err
		}
	}
	s.mu.Lock()
	delete(s.byKey, sess.key)
	s.over[sess.key] = sess.Created.Add(s.absolute)
	s.mu.Unlock()
	return nil
}

// apply takes in a record of the log: a session made or renewed on some
// frontend, or ended (whose streams here end now).
func (s *sessions) apply(rec chatbus.SessionRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, over := s.over[rec.Key]; over {
		return
	}
	if rec.Ended {
		s.over[rec.Key] = rec.Created.Add(s.absolute)
		if s.byKey[rec.Key] != nil {
			s.drop(rec.Key)
		}
		return
	}
	sess := s.byKey[rec.Key]
	if sess == nil {
		sess = &Session{key: rec.Key, Created: rec.Created}
		s.byKey[rec.Key] = sess
	}
	if rec.UserAt.After(sess.userAt) || sess.userAt.IsZero() {
		sess.User, sess.userAt = rec.User, rec.UserAt
	}
	if rec.Seen.After(sess.LastSeen) {
		sess.LastSeen = rec.Seen
	}
	if rec.Seen.After(sess.published) {
		sess.published = rec.Seen
	}
	if s.expired(sess, s.now()) { // an old record, read at start
		s.drop(rec.Key)
	}
}

// sweep deletes expired sessions, and forgets ended ones once they would
// have expired anyway; it runs now and then.
func (s *sessions) sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sess := range s.byKey {
		if s.expired(sess, now) {
			s.drop(k)
		}
	}
	for k, until := range s.over {
		if now.After(until) {
			delete(s.over, k)
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
