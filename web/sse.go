package web

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/chatbus/chatbus"
)

// An event for one browser stream.
type event struct {
	name string
	data any
}

// stream is one open /api/events connection.
type stream struct {
	sessKey [32]byte // zero for a stream opened before login
	pre     string   // the pre-login id of an anonymous stream
	userID  string
	events  chan event
	done    chan struct{}
	once    sync.Once
}

// streamBuffer is how many events a stream may have waiting; a browser that
// stops reading is disconnected rather than buffered without bound (it
// reconnects and reloads).
const streamBuffer = 256

func (st *stream) close() { st.once.Do(func() { close(st.done) }) }

// send queues ev, or closes a stream that is not keeping up.
func (st *stream) send(ev event) {
	select {
	case st.events <- ev:
	default:
		st.close()
	}
}

// hub knows the open streams by session, by user and by pre-login id.
type hub struct {
	mu        sync.Mutex
	bySession map[[32]byte]map[*stream]bool
	byUser    map[string]map[*stream]bool
	byPre     map[string]map[*stream]bool
}

func newHub() *hub {
	return &hub{bySession: map[[32]byte]map[*stream]bool{}, byUser: map[string]map[*stream]bool{},
		byPre: map[string]map[*stream]bool{}}
}

func add[K comparable](m map[K]map[*stream]bool, k K, st *stream) {
	if m[k] == nil {
		m[k] = map[*stream]bool{}
	}
	m[k][st] = true
}

func remove[K comparable](m map[K]map[*stream]bool, k K, st *stream) {
	delete(m[k], st)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

func (h *hub) add(st *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st.userID != "" {
		add(h.bySession, st.sessKey, st)
		add(h.byUser, st.userID, st)
	} else {
		add(h.byPre, st.pre, st)
	}
}

func (h *hub) remove(st *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st.userID != "" {
		remove(h.bySession, st.sessKey, st)
		remove(h.byUser, st.userID, st)
	} else {
		remove(h.byPre, st.pre, st)
	}
}

// sendPre sends to the streams a browser opened before logging in.
func (h *hub) sendPre(pre, name string, data any) {
	if pre == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for st := range h.byPre[pre] {
		st.send(event{name, data})
	}
}

// sendUser sends to every stream of a user: each device, each tab.
func (h *hub) sendUser(userID, name string, data any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for st := range h.byUser[userID] {
		st.send(event{name, data})
	}
}

// closeSession ends the streams of a session (at logout).
func (h *hub) closeSession(key [32]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for st := range h.bySession[key] {
		st.close()
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.bySession {
		for st := range set {
			st.close()
		}
	}
	for _, set := range h.byPre {
		for st := range set {
			st.close()
		}
	}
}

const preCookie = "chatbus_pre"

// preID is the id of the streams a browser opened before logging in.
func preID(r *http.Request) string {
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) == 26 {
		return c.Value
	}
	return ""
}

// handleEvents serves a browser's event stream. Before login, the stream
// carries the answer to the login (the seed's flow: the login page opens the
// stream, the credentials go to login-request, the answer comes back as an
// event); after login, what concerns the user. It opens with "ready", sends
// a comment heartbeat, and ends at logout.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	st := &stream{events: make(chan event, streamBuffer), done: make(chan struct{})}
	if sess := s.session(r); sess != nil {
		st.sessKey, st.userID = sess.key, s.sessions.user(sess).ID
	} else {
		st.pre = preID(r)
		if st.pre == "" {
			st.pre = rand.Text()
			http.SetCookie(w, &http.Cookie{Name: preCookie, Value: st.pre, Path: "/api/", HttpOnly: true,
				SameSite: http.SameSiteLaxMode, Secure: s.cfg.SecureCookies || r.TLS != nil})
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	rc := http.NewResponseController(w)
	s.hub.add(st)
	defer s.hub.remove(st)

	var id int64
	write := func(name string, data any) error {
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		id++
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, name, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	w.WriteHeader(http.StatusOK)
	if err := write("ready", map[string]any{"authenticated": st.userID != "", "userId": st.userID}); err != nil {
		return
	}
	beat := time.NewTicker(s.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-st.done:
			return
		case ev := <-st.events:
			if write(ev.name, ev.data) != nil {
				return
			}
		case <-beat.C:
			if st.userID != "" && !s.sessions.live(st.sessKey) {
				return // the session expired
			}
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// Deliver pushes a published event to the streams of its user on this
// frontend, as an SSE event named by its kind.
func (s *Server) Deliver(ev chatbus.Event) {
	s.hub.sendUser(ev.UserID, ev.Kind, ev.Data)
}
