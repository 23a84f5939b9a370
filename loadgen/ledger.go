package loadgen

import (
	"sync/atomic"
)

// ledger holds what is known of every message of the run, by its number
// (its clientMsgId names it): when it was due, its room, whether the
// gateway accepted it, how many streams got it. Senders and stream readers
// use it at once, without a lock; it grows in chunks, so that a flat-out
// run needs no bound given in advance.
type ledger struct {
	chunks [1 << 14]atomic.Pointer[[chunkSize]msgRecord]
}

const chunkSize = 1 << 14

// A message's state.
const (
	pending int32 = iota
	accepted
	failed
)

type msgRecord struct {
	due       atomic.Int64 // unix nanoseconds: scheduled (fixed rate) or sent (flat out)
	members   atomic.Int32 // the deliveries it should have
	state     atomic.Int32
	delivered atomic.Int32 // distinct streams that got it
	measured  atomic.Bool  // sent after the warm-up
}

// get returns message n's record, creating it if create is set; nil if
// there is none or n is beyond what the ledger holds.
func (l *ledger) get(n uint64, create bool) *msgRecord {
	c := n / chunkSize
	if c >= uint64(len(l.chunks)) {
		return nil
	}
	p := l.chunks[c].Load()
	if p == nil {
		if !create {
			return nil
		}
		l.chunks[c].CompareAndSwap(nil, new([chunkSize]msgRecord))
		p = l.chunks[c].Load()
	}
	return &p[n%chunkSize]
}

// each calls f for the first n records.
func (l *ledger) each(n uint64, f func(*msgRecord)) {
	for i := range n {
		if r := l.get(i, false); r != nil {
			f(r)
		}
	}
}

// seqTracker tells, for one stream, whether a room's message was seen
// before. A room's messages come in seq order, so it keeps the highest seq
// and the seqs skipped below it (normally none): memory stays small however
// long the run.
type seqTracker map[int64]*roomSeqs

type roomSeqs struct {
	max     int64
	skipped map[int64]bool
}

// maxSkip bounds the skipped seqs remembered at one jump.
const maxSkip = 1 << 16

// first reports whether (room, seq) is new to this stream, and records it.
func (t seqTracker) first(room, seq int64) bool {
	r := t[room]
	if r == nil {
		r = &roomSeqs{}
		t[room] = r
	}
	switch {
	case seq > r.max:
		for s := max(r.max+1, seq-maxSkip); s < seq; s++ {
			if r.skipped == nil {
				r.skipped = map[int64]bool{}
			}
			r.skipped[s] = true
		}
		r.max = seq
		return true
	case r.skipped[seq]:
		delete(r.skipped, seq)
		return true
	}
	return false
}
