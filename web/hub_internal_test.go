package web

import (
	"fmt"
	"testing"
)

// A stream closed for falling behind has dropped an event: nothing after it
// may be queued, taken or announced by a heartbeat's cursor, or the client
// would resume past the event it never got.
func TestSlowStreamWritesNothingPastTheDrop(t *testing.T) {
	h := newHub(1000)
	h.start("e", []int64{0}, []int64{0})
	st := newStream()
	st.userID = "alice"
	if _, ok := h.add(st, 0, nil); !ok {
		t.Fatal("not added")
	}
	deliver := func(off int64) {
		h.deliver(entry{part: 0, offset: off, users: []string{"alice"}, frame: []byte(fmt.Sprint("e", off))})
	}
	for off := range int64(streamBuffer) {
		deliver(off)
	}
	if got := len(st.take()); got != streamBuffer {
		t.Fatalf("took %d, want %d", got, streamBuffer)
	}
	// The writer is busy with those; the queue fills again and overflows.
	for off := int64(streamBuffer); off <= 2*streamBuffer; off++ {
		deliver(off)
	}
	select {
	case <-st.done:
	default:
		t.Fatal("a stream that fell behind is still open")
	}
	deliver(2*streamBuffer + 1) // after the drop
	if got := st.take(); got != nil {
		t.Errorf("a closed stream gave %d more events to write", len(got))
	}
	if id, ok := h.position(st); ok {
		t.Errorf("a closed stream's heartbeat would carry cursor %q", id)
	}
}

// A feed that starts again (its reader restarted) makes streams wait for
// the new start's past once more: a fresh stream must not be sent it as news.
func TestRestartedFeedWaitsAgain(t *testing.T) {
	h := newHub(100)
	h.start("e", []int64{0}, []int64{0})
	if live, _ := h.ready(); !live {
		t.Fatal("an empty log's feed is not live")
	}
	h.start("e", []int64{0}, []int64{2})
	if live, _ := h.ready(); live {
		t.Fatal("live again before reading the new start's past")
	}
	h.deliver(entry{part: 0, offset: 0})
	h.deliver(entry{part: 0, offset: 1})
	if live, _ := h.ready(); !live {
		t.Fatal("not live after reading the past")
	}
}
