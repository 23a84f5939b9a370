package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
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
	c, err := r.Cookie(s.cookieName(r, preCookie))
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
// event); after login, what concerns the user, each event with its cursor as
// id. It opens with "ready", resumes from Last-Event-ID (or the lastEventId
// parameter) when given, sends a heartbeat, and ends at logout.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	st := newStream()
	var from *cursor
	if sess := s.session(r); sess != nil {
		st.sessKey, st.userID = sess.key, s.sessions.user(sess).ID
		last := r.Header.Get("Last-Event-ID")
		if last == "" {
			last = r.URL.Query().Get("lastEventId")
		}
		// A frontend that has just started has not read the log yet.
		select {
		case <-s.hub.liveCh():
		case <-time.After(10 * time.Second):
			w.Header().Set("Retry-After", "2")
			s.writeError(w, r, chatbus.Errorf(chatbus.CodeUnavailable, "the event stream is starting; try again"))
			return
		case <-r.Context().Done():
			return
		}
		if last != "" {
			c, err := parseCursor(last)
			if err != nil || !s.withinLog(r.Context(), c) {
				c = cursor{} // never served: the stream says resync
			}
			from = &c
		}
	} else {
		st.pre = s.preID(r)
		if st.pre == "" {
			st.pre = s.newPreID()
			// __Host- cookies are for Path=/ only.
			path := "/api/"
			if s.secure(r) {
				path = "/"
			}
			http.SetCookie(w, &http.Cookie{Name: s.cookieName(r, preCookie), Value: st.pre, Path: path, HttpOnly: true,
				SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
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
	open, ok := s.hub.add(st, limit, from)
	if open.shut {
		w.Header().Set("Retry-After", "1")
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeUnavailable, "this frontend is stopping; connect again"))
		return
	}
	if !ok {
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeRateLimited, "too many open event streams (%d); close some tabs", limit))
		return
	}
	defer s.hub.remove(st)
	defer s.cfg.Metrics.streamOpened(st.userID != "")()
	s.cfg.Metrics.opened(open)
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
	// A stream opened before login lasts ten minutes: the login page
	// reconnects if it is still open.
	var expire <-chan time.Time
	if st.userID == "" {
		t := time.NewTimer(10 * time.Minute)
		defer t.Stop()
		expire = t.C
	}

	out := sseWriter{w: w, rc: http.NewResponseController(w)}
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n") // browsers reconnect after 2 s
	// The cursor goes on the last event of the opening: were the connection
	// cut in between, the browser would resume from before it.
	ready := map[string]any{"authenticated": st.userID != "", "userId": st.userID, "resumed": open.resumed}
	readyID := open.id
	if open.resync {
		readyID = ""
	}
	if out.event(readyID, "ready", ready) != nil {
		return
	}
	if open.resync && out.event(open.id, "resync", map[string]string{
		"reason": "the events since your last one cannot be given (no longer held, or not of this log); reload"}) != nil {
		return
	}
	for _, e := range open.backlog {
		if out.write(e.id, e.frame) != nil {
			return
		}
	}
	s.cfg.Metrics.deliveredN(len(open.backlog))
	beat := time.NewTicker(s.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-st.done:
			s.cfg.Metrics.streamDropped(st.reason)
			if st.reason == closeShutdown {
				// Browsers reconnect after the retry delay: soon, to
				// another frontend behind the balancer, and spread over a
				// few seconds so they do not all come at once.
				fmt.Fprintf(w, "retry: %d\n\n", 500+mathrand.IntN(2500))
				out.flush()
			}
			return
		case <-expire:
			return
		case <-st.wake:
			// Everything waiting goes out in one flush.
			taken := st.take()
			for _, d := range taken {
				if out.put(d.id, d.frame) != nil {
					return
				}
			}
			if out.flush() != nil {
				return
			}
			s.cfg.Metrics.deliveredN(len(taken))
		case <-beat.C:
			if st.userID != "" && !s.sessions.live(st.sessKey) {
				return // the session expired
			}
			// A logged-in stream's heartbeat is an event with the cursor,
			// so that a quiet stream's cursor stays recent — in the
			// browser's Last-Event-ID, and in the page, which keeps it for
			// a stream it must open anew.
			beatFrame := commentBeat
			id, ok := s.hub.position(st)
			if ok && st.userID != "" {
				beatFrame = heartbeatFrame
			} else {
				id = ""
			}
			if out.write(id, beatFrame) != nil {
				return
			}
		}
	}
}

// withinLog tells whether a cursor ahead of this frontend's feed is within
// the log (another frontend read further), asking Config.LogEnd: one ahead
// of the log's end was never given out, and cannot be served. A log end
// that cannot be learnt counts as beyond: resync is always safe.
func (s *Server) withinLog(ctx context.Context, c cursor) bool {
	if s.cfg.LogEnd == nil || !s.hub.ahead(c) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	end, err := s.cfg.LogEnd(ctx)
	if err != nil {
		s.log.Warn("the event log's end is not known; the stream resyncs", "err", err)
		return false
	}
	if len(end) != len(c.next) {
		return false
	}
	for i, o := range c.next {
		if o > end[i] {
			return false
		}
	}
	return true
}

// heartbeatFrame is a logged-in stream's heartbeat: a comment (what proxies
// and simple clients look for) and an event that carries the cursor.
var commentBeat = []byte(": heartbeat\n\n") // a heartbeat without cursor

var heartbeatFrame = append([]byte(": heartbeat\n"), rawFrame("heartbeat", []byte("{}"))...)

// sseWriter writes events to a stream, each flushed at once, within a
// deadline: a client that stops reading is dropped.
type sseWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

// write writes a frame, after its id if it has one, and flushes it.
func (sw sseWriter) write(id string, frame []byte) error {
	if err := sw.put(id, frame); err != nil {
		return err
	}
	return sw.flush()
}

// put writes a frame, after its id if it has one, without flushing.
func (sw sseWriter) put(id string, frame []byte) error {
	sw.rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if id != "" {
		if _, err := fmt.Fprintf(sw.w, "id: %s\n", id); err != nil {
			return err
		}
	}
	_, err := sw.w.Write(frame)
	return err
}

func (sw sseWriter) flush() error { return sw.rc.Flush() }

func (sw sseWriter) event(id, name string, data any) error {
	f, err := frame(name, data)
	if err != nil {
		return err
	}
	return sw.write(id, f)
}

// frame is an SSE event without id: its name and its data, as JSON on one line.
func frame(name string, data any) ([]byte, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return rawFrame(name, b), nil
}

func rawFrame(name string, data []byte) []byte {
	f := make([]byte, 0, len(name)+len(data)+16)
	f = append(f, "event: "...)
	f = append(f, name...)
	f = append(f, "\ndata: "...)
	f = append(f, data...)
	return append(f, "\n\n"...)
}

// Start starts the feed of events at a position of the log (chatbus.EventSink).
func (s *Server) Start(epoch string, from, until []int64) { s.hub.start(epoch, from, until) }

// Deliver pushes a published event to the streams of its users on this
// frontend, as an SSE event named by its kind, and holds it for streams that
// resume. Only the known kinds pass, as one line of JSON: a record anyone
// wrote to the topic must not become arbitrary SSE fields.
func (s *Server) Deliver(part int, offset int64, ev chatbus.Event) {
	e := entry{part: part, offset: offset}
	s.hub.deliver(eventEntry(e, ev)) // one for no one if it does not pass
}

func eventEntry(e entry, ev chatbus.Event) entry {
	var data bytes.Buffer
	if json.Compact(&data, ev.Data) != nil {
		return e
	}
	var users []string
	switch ev.Kind {
	case chatbus.EventFriend, chatbus.EventStatus:
		users = []string{ev.UserID}
	case chatbus.EventRoom:
		users = ev.To
		if ev.RoomID == 0 { // as user events were written before
			users = []string{ev.UserID}
		}
	case chatbus.EventMessage:
		var m struct{ Seq int64 }
		if json.Unmarshal(data.Bytes(), &m) != nil || ev.RoomID <= 0 || m.Seq <= 0 {
			return e
		}
		users, e.room, e.seq = ev.To, ev.RoomID, m.Seq
	case chatbus.EventRead:
		users = ev.To
	default:
		return e
	}
	e.users, e.frame = users, rawFrame(ev.Kind, data.Bytes())
	return e
}
