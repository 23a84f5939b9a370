package web

import (
	"sync"
)

// delivery is one SSE event, ready to write: its cursor ("" for none) and
// its frame.
type delivery struct {
	id    string
	frame []byte
}

// stream is one open /api/events connection.
type stream struct {
	sessKey [32]byte // zero for a stream opened before login
	pre     string   // the pre-login id of an anonymous stream
	addr    string   // the client's address key (anonymous streams are capped by it)
	userID  string
	// floor, while not nil, is the cursor the stream resumed from where this
	// frontend has not read as far yet: events before it were sent already.
	// The hub's lock guards it.
	floor []int64

	mu     sync.Mutex
	closed bool // set by close: nothing more is queued or taken
	queue  []delivery
	spare  []delivery    // the queue's other buffer, swapped in by take
	wake   chan struct{} // signalled when the queue grows
	done   chan struct{}
	once   sync.Once
	// reason is why the gateway closed the stream (closeSlow, …), set
	// before done is closed.
	reason string
}

// Why the gateway closes a stream.
const (
	closeSlow     = "slow"     // streamBuffer events behind
	closeSession  = "session"  // logout or expiry
	closeRestart  = "restart"  // the feed started again: resume or resync
	closeShutdown = "shutdown" // the frontend is stopping
)

// streamBuffer is how many events a stream may have waiting; a browser that
// stops reading is disconnected rather than buffered without bound (it
// reconnects and resumes from its cursor). The queue grows only as needed,
// so that an idle stream costs little.
const streamBuffer = 256

func newStream() *stream {
	return &stream{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// close ends the stream. Once closed, nothing more is queued or taken: a
// stream closed because it fell behind has dropped an event, and must not
// write a later one (whose cursor would skip it) before it ends.
func (st *stream) close(reason string) {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	st.once.Do(func() {
		st.reason = reason
		close(st.done)
	})
}

// send queues d, or closes a stream that is not keeping up.
func (st *stream) send(d delivery) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	full := len(st.queue) >= streamBuffer
	if !full {
		st.queue = append(st.queue, d)
	}
	st.mu.Unlock()
	if full {
		st.close(closeSlow)
		return
	}
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// take returns what is queued; the slice is valid until the next take.
func (st *stream) take() []delivery {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil
	}
	out := st.queue
	clear(st.spare)
	st.queue, st.spare = st.spare[:0], out
	return out
}

// idle tells whether nothing is queued for a stream still open.
func (st *stream) idle() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.queue) == 0 && !st.closed
}

// hub knows the open streams by session, by user and by pre-login id, and
// the recent events they may resume from.
type hub struct {
	mu        sync.Mutex
	feed      *feed
	until     []int64       // where the log ended when the feed started
	live      chan struct{} // closed once the feed has read that far
	bySession map[[32]byte]map[*stream]bool
	byUser    map[string]map[*stream]bool
	byPre     map[string]map[*stream]bool
	anonBy    map[string]int // open anonymous streams per address
	shut      bool           // closeAll was called: no new streams
}

func newHub(resumable int) *hub {
	return &hub{feed: newFeed(resumable), live: make(chan struct{}),
		bySession: map[[32]byte]map[*stream]bool{}, byUser: map[string]map[*stream]bool{},
		byPre: map[string]map[*stream]bool{}, anonBy: map[string]int{}}
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

// opening is what a stream starts with: the cursor of its start, or the
// held events after the cursor it resumes from.
type opening struct {
	id      string  // the cursor a fresh stream starts at ("" before the feed starts)
	backlog []entry // the events it missed, with their cursors
	resumed bool    // it resumes where it left off
	resync  bool    // it asked to resume, but the events since are not held
	shut    bool    // refused: the gateway is stopping
}

// resumeMax bounds the events replayed to one resuming stream; past it,
// reloading is quicker.
const resumeMax = 5000

// add registers a stream unless its user already has limit streams open
// (its address, for a stream opened before login); limit 0 is no limit.
// A user's stream starts at from when it is set: it is then given, in
// order, every held event since, and the live ones after.
func (h *hub) add(st *stream, limit int, from *cursor) (opening, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shut {
		return opening{shut: true}, false
	}
	if st.userID == "" {
		if limit > 0 && h.anonBy[st.addr] >= limit {
			return opening{}, false
		}
		h.anonBy[st.addr]++
		add(h.byPre, st.pre, st)
		return opening{}, true
	}
	if limit > 0 && len(h.byUser[st.userID]) >= limit {
		return opening{}, false
	}
	add(h.bySession, st.sessKey, st)
	add(h.byUser, st.userID, st)
	var o opening
	if from != nil {
		o.backlog, o.resumed = h.feed.since(*from, st.userID, resumeMax)
		o.resync = !o.resumed
		if o.resumed && h.feed.behind(from.next) {
			st.floor = from.next
		}
	}
	if !o.resumed && h.feed.started {
		o.id = h.feed.id
	}
	return o, true
}

func (h *hub) remove(st *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st.userID != "" {
		remove(h.bySession, st.sessKey, st)
		remove(h.byUser, st.userID, st)
	} else {
		remove(h.byPre, st.pre, st)
		if h.anonBy[st.addr]--; h.anonBy[st.addr] <= 0 {
			delete(h.anonBy, st.addr)
		}
	}
}

// start (re)starts the feed at from; the log ends at until. Streams wait
// until the feed has read that far: a fresh stream must not be sent the
// past as news, and a resuming one needs it held. Streams opened on an
// earlier start end: their cursors may not hold in the new one (they
// resume or resync).
func (h *hub) start(epoch string, from, until []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.feed.started {
		h.closeUsers(closeRestart)
		select {
		case <-h.live: // streams wait again, for the new start's past
			h.live = make(chan struct{})
		default:
		}
	}
	h.feed.reset(epoch, from)
	h.until = append([]int64(nil), until...)
	h.checkLive()
}

func (h *hub) checkLive() {
	select {
	case <-h.live:
	default:
		if h.feed.reached(h.until) {
			close(h.live)
		}
	}
}

// deliver holds e and sends it to the streams of its users (an entry for
// no one only moves the feed on).
func (h *hub) deliver(e entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.feed.add(e)
	h.checkLive()
	if !ok {
		return
	}
	for _, u := range e.users {
		for st := range h.byUser[u] {
			if st.floor == nil {
				st.send(delivery{e.id, e.frame})
				continue
			}
			if e.offset >= st.floor[e.part] {
				st.send(delivery{cursor{h.feed.epoch, maxOffsets(st.floor, h.feed.next)}.String(), e.frame})
			}
			if !h.feed.behind(st.floor) {
				st.floor = nil
			}
		}
	}
}

// ahead tells whether c is a cursor of this log that is ahead of what the
// feed has read in some partition.
func (h *hub) ahead(c cursor) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.feed.started && c.epoch == h.feed.epoch && len(c.next) == len(h.feed.next) && h.feed.behind(c.next)
}

// position returns the cursor a stream has reached if nothing is queued for
// it: a heartbeat carries it, so that a quiet stream's cursor stays recent.
func (h *hub) position(st *stream) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.feed.started || !st.idle() {
		return "", false
	}
	if st.floor != nil {
		return cursor{h.feed.epoch, maxOffsets(st.floor, h.feed.next)}.String(), true
	}
	return h.feed.id, true
}

// sendPre sends to the streams a browser opened before logging in.
func (h *hub) sendPre(pre, name string, data any) {
	f, err := frame(name, data)
	if pre == "" || err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for st := range h.byPre[pre] {
		st.send(delivery{frame: f})
	}
}

// closeSession ends the streams of a session (at logout).
func (h *hub) closeSession(key [32]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for st := range h.bySession[key] {
		st.close(closeSession)
	}
}

func (h *hub) closeUsers(reason string) {
	for _, set := range h.bySession {
		for st := range set {
			st.close(reason)
		}
	}
}

// closeAll ends every stream and refuses new ones: the gateway is stopping.
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shut = true
	h.closeUsers(closeShutdown)
	for _, set := range h.byPre {
		for st := range set {
			st.close(closeShutdown)
		}
	}
}

// ready tells whether the gateway can serve streams: its feed has read
// the log as far as it ended at start, and it is not stopping.
func (h *hub) ready() (live, stopping bool) {
	select {
	case <-h.liveCh():
		live = true
	default:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return live, h.shut
}

// liveCh is closed once the feed has read the log's past (hub.start makes
// a new one when the feed starts again).
func (h *hub) liveCh() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live
}
