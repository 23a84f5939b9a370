package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// job is one message to post: its number and when it is due.
type job struct {
	n   uint64
	due time.Duration // since the run's epoch
}

// sendFixedRate posts cfg.Rate messages a second from start to end, open
// loop: message i is due at start + i/rate whether or not the ones before
// have been answered, so a slow system shows as latency (measured from the
// due time) instead of as fewer, well-behaved sends. Messages due but not
// yet taken by a sender when end comes are counted as unsent.
func (b *bench) sendFixedRate(ctx context.Context, start, end time.Duration) {
	jobs := make(chan job, b.cfg.Senders)
	var wg sync.WaitGroup
	for range b.cfg.Senders {
		wg.Go(func() {
			for j := range jobs {
				b.send(ctx, j)
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	interval := time.Duration(float64(time.Second) / b.cfg.Rate)
	stop := time.NewTimer(end - b.since())
	defer stop.Stop()
	for i := uint64(0); ; i++ {
		due := start + time.Duration(i)*interval
		if due >= end {
			return
		}
		if wait := due - b.since(); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		select {
		case jobs <- job{n: b.next.Add(1) - 1, due: due}:
		case <-ctx.Done():
			return
		case <-stop.C:
			// Every sender is busy until the end: the rest are not sent.
			b.unsent.Add(int64((end - due + interval - 1) / interval))
			return
		}
	}
}

// sendFlatOut posts as fast as cfg.Senders posts in flight allow, from now
// to end; latency runs from each post's start.
func (b *bench) sendFlatOut(ctx context.Context, end time.Duration) {
	var wg sync.WaitGroup
	for range b.cfg.Senders {
		wg.Go(func() {
			for ctx.Err() == nil {
				now := b.since()
				if now >= end {
					return
				}
				b.send(ctx, job{n: b.next.Add(1) - 1, due: now})
			}
		})
	}
	wg.Wait()
}

// send posts message j.n to its room as one of the room's members, in turn.
func (b *bench) send(ctx context.Context, j job) {
	rm := b.rooms[j.n%uint64(len(b.rooms))]
	writer := rm.members[(j.n/uint64(len(b.rooms)))%uint64(len(rm.members))]
	rec := b.ledger.get(j.n, true)
	if rec == nil {
		b.fail("ledger full")
		return
	}
	measured := j.due >= b.measureFrom
	rec.due.Store(int64(j.due))
	rec.members.Store(int32(len(rm.members)))
	rec.measured.Store(measured)
	if measured {
		b.sent.Add(1)
	}
	id := b.run + "-" + strconv.FormatUint(j.n, 10)
	body := struct {
		Message     string `json:"message"`
		ClientMsgID string `json:"clientMsgId"`
	}{"bench message " + id, id}
	_, err := writer.api.call(ctx, writer.session, "POST", fmt.Sprintf("/api/rooms/%d/messages", rm.id), body, nil, http.StatusCreated)
	if err != nil {
		rec.state.Store(failed)
		if measured {
			b.fail(failureKind(err))
		}
		return
	}
	rec.state.Store(accepted)
	b.acceptedAll.Add(1)
	if measured {
		b.accepted.Add(1)
	}
}

// failureKind names a failed post for the report: its HTTP status, or
// what kept it from having one.
func failureKind(err error) string {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return strconv.Itoa(se.Status)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	default:
		return "transport"
	}
}

func (b *bench) fail(kind string) {
	b.mu.Lock()
	b.failures[kind]++
	b.mu.Unlock()
}
