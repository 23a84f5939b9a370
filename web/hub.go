package web

import (
	"sync"
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
	addr    string   // the client's address key (anonymous streams are capped by it)
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
	anonBy    map[string]int // open anonymous streams per address
}

func newHub() *hub {
	return &hub{bySession: map[[32]byte]map[*stream]bool{}, byUser: map[string]map[*stream]bool{},
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

// add registers a stream unless its user already has limit streams open
// (its address, for a stream opened before login); limit 0 is no limit.
func (h *hub) add(st *stream, limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st.userID != "" {
		if limit > 0 && len(h.byUser[st.userID]) >= limit {
			return false
		}
		add(h.bySession, st.sessKey, st)
		add(h.byUser, st.userID, st)
	} else {
		if limit > 0 && h.anonBy[st.addr] >= limit {
			return false
		}
		h.anonBy[st.addr]++
		add(h.byPre, st.pre, st)
	}
	return true
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
