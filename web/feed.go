package web

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// A cursor is a position in the event log: the log's epoch and, for each
// partition, the offset of the next event. It is every event's SSE id, so a
// browser that reconnects names what it has seen (Last-Event-ID) and is
// given exactly the rest, by this frontend or any other: offsets are the
// same for all of them. It reads "epoch.o1.o2…", offsets in base 36.
type cursor struct {
	epoch string
	next  []int64
}

func (c cursor) String() string {
	b := make([]byte, 0, len(c.epoch)+4*len(c.next))
	b = append(b, c.epoch...)
	for _, o := range c.next {
		b = append(b, '.')
		b = strconv.AppendInt(b, o, 36)
	}
	return string(b)
}

var errCursor = errors.New("not a cursor of this event log")

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, ".")
	if len(s) > 1024 || len(parts) < 2 {
		return cursor{}, errCursor
	}
	c := cursor{epoch: parts[0], next: make([]int64, len(parts)-1)}
	for i, p := range parts[1:] {
		o, err := strconv.ParseInt(p, 36, 64)
		if err != nil || o < 0 {
			return cursor{}, errCursor
		}
		c.next[i] = o
	}
	return c, nil
}

// entry is one event of the log, as streams are sent it.
type entry struct {
	part   int
	offset int64
	users  []string // whom it is for
	room   int64    // a message's room and seq, else 0
	seq    int64
	frame  []byte // "event: …\ndata: …\n\n"
	id     string // the cursor right after it, in this frontend's order
}

// feed holds the recent events of the log, as this frontend read them, so
// that streams can resume from a cursor; the oldest go first when it is
// full.
type feed struct {
	started bool
	epoch   string
	start   []int64 // per partition: every event from here on is held …
	next    []int64 // … up to here
	ring    []entry // a circular buffer of held events, oldest at head
	head, n int
	id      string // the cursor at next
	// lastSeq is the last message held of each room: the relay publishes
	// again what a crash kept it from marking as published, and the copy,
	// at a later offset, must not reach anyone twice.
	lastSeq map[int64]int64
}

func newFeed(capacity int) *feed {
	return &feed{ring: make([]entry, capacity), lastSeq: map[int64]int64{}}
}

// reset starts the feed afresh at next, forgetting what it held.
func (f *feed) reset(epoch string, next []int64) {
	clear(f.ring)
	clear(f.lastSeq)
	f.started, f.epoch, f.head, f.n = true, epoch, 0, 0
	f.start, f.next = append([]int64(nil), next...), append([]int64(nil), next...)
	f.id = cursor{epoch, f.next}.String()
}

// add moves the feed past e and holds it, its id set to the new position,
// dropping the oldest event when full. It holds nothing and reports false
// for an event of an unknown partition, one already read, one for no one,
// or a copy of a message already held.
func (f *feed) add(e entry) (entry, bool) {
	if !f.started || e.part < 0 || e.part >= len(f.next) || e.offset < f.next[e.part] {
		return e, false
	}
	f.next[e.part] = e.offset + 1
	f.id = cursor{f.epoch, f.next}.String()
	if len(e.users) == 0 || e.room != 0 && e.seq <= f.lastSeq[e.room] {
		return e, false
	}
	if e.room != 0 {
		f.lastSeq[e.room] = e.seq
	}
	if f.n == len(f.ring) {
		old := f.ring[f.head]
		if old.room != 0 && f.lastSeq[old.room] == old.seq {
			delete(f.lastSeq, old.room) // the memory stays bounded by the ring
		}
		f.start[old.part] = old.offset + 1
		f.ring[f.head] = entry{}
		f.head, f.n = (f.head+1)%len(f.ring), f.n-1
	}
	e.id = f.id
	f.ring[(f.head+f.n)%len(f.ring)] = e
	f.n++
	return e, true
}

// since returns the held events for userID after cursor c, each with the
// cursor right after it, at most limit; ok is false when c cannot be
// served: another log, or events since it no longer held (or too many).
func (f *feed) since(c cursor, userID string, limit int) (out []entry, ok bool) {
	if !f.started || c.epoch != f.epoch || len(c.next) != len(f.next) {
		return nil, false
	}
	for p, o := range c.next {
		if o < f.start[p] {
			return nil, false
		}
	}
	// The position after each held event, from the start of the buffer.
	pos := append([]int64(nil), f.start...)
	for i := range f.n {
		e := f.ring[(f.head+i)%len(f.ring)]
		pos[e.part] = e.offset + 1
		if e.offset < c.next[e.part] || !slices.Contains(e.users, userID) {
			continue
		}
		if len(out) == limit {
			return nil, false
		}
		e.id = cursor{f.epoch, maxOffsets(c.next, pos)}.String()
		out = append(out, e)
	}
	return out, true
}

// maxOffsets is the later of two positions, partition by partition.
func maxOffsets(a, b []int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = max(a[i], b[i])
	}
	return out
}

// reached tells whether the feed has read up to until in every partition.
func (f *feed) reached(until []int64) bool {
	for i, o := range until {
		if i < len(f.next) && f.next[i] < o {
			return false
		}
	}
	return true
}

// behind tells whether the feed has not yet reached c in some partition:
// another frontend read further before the stream moved here.
func (f *feed) behind(c []int64) bool {
	for i, o := range c {
		if f.next[i] < o {
			return true
		}
	}
	return false
}
