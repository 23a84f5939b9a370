package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/chatbus/chatbus"
)

const preCookie = "chatbus_pre"

// preID is the id of the streams a browser opened before logging in, if
// this process issued it: it is signed, so that no one can plant an id in a
// browser and read its login on a stream of their own.
func (s *Server) preID(r *http.Request) string {
	c, err := r.Cookie(preCookie)
	if err != nil {
		return ""
	}
	id, mac, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.signPre(id))) {
		return ""
	}
	return c.Value
}

func (s *Server) newPreID() string {
	id := rand.Text()
	return id + "." + s.signPre(id)
}

func (s *Server) signPre(id string) string {
	h := hmac.New(sha256.New, s.preKey)
	h.Write([]byte(id))
	return hex.EncodeToString(h.Sum(nil)[:16])
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
		st.pre = s.preID(r)
		if st.pre == "" {
			st.pre = s.newPreID()
			http.SetCookie(w, &http.Cookie{Name: preCookie, Value: st.pre, Path: "/api/", HttpOnly: true,
				SameSite: http.SameSiteLaxMode, Secure: s.cfg.SecureCookies || r.TLS != nil})
		}
	}
	st.addr = s.addrKey(r)
	limit := s.cfg.StreamsPerUser
	if st.userID == "" {
		limit = s.cfg.StreamsPerAddr
	}
	if s.exempt(r) {
		limit = 0
	}
	if !s.hub.add(st, limit) {
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeRateLimited, "too many open event streams (%d); close some tabs", limit))
		return
	}
	defer s.hub.remove(st)
	// A logout between the session lookup and add would have missed this
	// stream: look again now that it is registered.
	if st.userID != "" && !s.sessions.live(st.sessKey) {
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeUnauthenticated, "log in first"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	rc := http.NewResponseController(w)
	// A stream opened before login lasts ten minutes: the login page
	// reconnects if it is still open.
	var expire <-chan time.Time
	if st.userID == "" {
		t := time.NewTimer(10 * time.Minute)
		defer t.Stop()
		expire = t.C
	}

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
	fmt.Fprint(w, "retry: 2000\n\n") // browsers reconnect after 2 s
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
		case <-expire:
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
// frontend, as an SSE event named by its kind. Only the known kinds pass: a
// record anyone wrote to the topic must not become arbitrary SSE fields.
func (s *Server) Deliver(ev chatbus.Event) {
	if !json.Valid(ev.Data) {
		return
	}
	switch ev.Kind {
	case chatbus.EventFriend, chatbus.EventRoom, chatbus.EventStatus:
		s.hub.sendUser(ev.UserID, ev.Kind, ev.Data)
	case chatbus.EventMessage, chatbus.EventRead:
		for _, id := range ev.To {
			s.hub.sendUser(id, ev.Kind, ev.Data)
		}
	}
}
