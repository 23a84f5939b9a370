package kafkabus

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
)

// Relay publishes the outbox's events, in order — user events to the user
// events topic keyed by user, room events to the room events topic keyed by
// room — and deletes them once the broker has them: every committed event is
// published at least once (again, after a crash between the two steps).
type Relay struct {
	store  chatbus.Store
	cl     *kgo.Client
	topics Topics
	keys   *Keys
	log    *slog.Logger
	poke   chan struct{}
	// metrics, when set by Instrument, counts what is published.
	metrics *RelayMetrics
	// Holder names this relay in the lease on publishing: backends on one
	// database each run a relay, and one at a time publishes (two side by
	// side would publish most events twice). It is random unless set; a
	// backend with an instance id uses it, so that, restarted, it takes
	// the lease back at once instead of when it expires.
	Holder    string
	heldUntil time.Time // when this relay's lease ends

	// Deleting what was published is a write, which waits for the store's
	// writer; the next batch is published meanwhile. published holds the
	// ids sent to the broker and not yet deleted: the next read skips them.
	// deleted holds ids just deleted, with the count of deletions then:
	// a read that began before a deletion committed may still see its ids.
	mu        sync.Mutex
	published map[int64]bool
	deleted   map[int64]uint64
	deletions uint64
	deletes   chan []int64
}

// RelayLease is how long a relay holds the outbox without renewing: when
// its backend dies, another relay takes over after at most this long.
const RelayLease = 5 * time.Second

// NewRelay connects a relay to the cluster.
func NewRelay(conn Conn, topics Topics, store chatbus.Store) (*Relay, error) {
	if conn.Keys == nil {
		return nil, errNoKeys
	}
	cl, err := kgo.NewClient(conn.Opts()...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	log := conn.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{store: store, cl: cl, topics: topics, keys: conn.Keys, log: log, poke: make(chan struct{}, 1), Holder: rand.Text(),
		published: map[int64]bool{}, deleted: map[int64]uint64{}, deletes: make(chan []int64, 16)}, nil
}

// Poke tells the relay that the outbox may have grown; it never blocks.
func (r *Relay) Poke() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is done. Between pokes it looks every second, for
// events written by other processes.
func (r *Relay) Run(ctx context.Context) {
	defer r.cl.Close()
	defer r.release()
	deleted := make(chan struct{})
	go func() { r.deleteLoop(ctx); close(deleted) }()
	defer func() { <-deleted }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		n, err := r.publish(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("publish events", "err", err)
		}
		if n > 0 && err == nil {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return
		case <-r.poke:
		case <-tick.C:
		}
	}
}

// lease tells whether this relay holds the outbox, renewing its lease when
// half of it has passed.
func (r *Relay) lease(ctx context.Context) (bool, error) {
	now := time.Now()
	if now.Before(r.heldUntil.Add(-RelayLease / 2)) {
		return true, nil
	}
	var ok bool
	until := now.Add(RelayLease)
	err := r.store.Update(ctx, func(tx chatbus.Tx) (err error) {
		ok, err = tx.ClaimRelay(ctx, r.Holder, now, until)
		return err
	})
	if err != nil {
		return false, err // held or not, as before: until heldUntil at most
	}
	if !ok {
		r.heldUntil = time.Time{}
		return false, nil
	}
	if r.heldUntil.IsZero() {
		r.log.Info("this backend's relay publishes the outbox")
	}
	r.heldUntil = until
	return true, nil
}

// release gives the lease up at shutdown, so that another relay takes over
// at once. It asks even when unsure of holding it (a renewal cut short by
// the shutdown): giving up a lease held by another relay changes nothing.
func (r *Relay) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.store.Update(ctx, func(tx chatbus.Tx) error {
		_, err := tx.ClaimRelay(ctx, r.Holder, time.Now(), time.UnixMilli(0))
		return err
	})
}

// publish sends one batch of pending events and deletes them, if this
// relay holds the lease.
func (r *Relay) publish(ctx context.Context) (int, error) {
	if ok, err := r.lease(ctx); !ok || err != nil {
		return 0, err
	}
	r.mu.Lock()
	limit, before := 500+len(r.published)+len(r.deleted), r.deletions
	r.mu.Unlock()
	var evs []chatbus.Event
	err := r.store.View(ctx, func(tx chatbus.Tx) (err error) {
		evs, err = tx.PendingEvents(ctx, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	evs = slices.DeleteFunc(evs, func(ev chatbus.Event) bool {
		_, gone := r.deleted[ev.ID]
		return r.published[ev.ID] || gone
	})
	// Deletions committed before this read began are not seen by any
	// read from now on.
	maps.DeleteFunc(r.deleted, func(_ int64, n uint64) bool { return n <= before })
	r.mu.Unlock()
	if len(evs) == 0 {
		return 0, nil
	}
	recs := make([]*kgo.Record, len(evs))
	for i, ev := range evs {
		value, err := json.Marshal(ev)
		if err != nil {
			return 0, err
		}
		recs[i] = &kgo.Record{Topic: r.topics.UserEvents(), Key: []byte(ev.UserID), Value: value}
		if ev.RoomID != 0 {
			recs[i].Topic, recs[i].Key = r.topics.RoomEvents(), []byte(strconv.FormatInt(ev.RoomID, 10))
		}
		r.keys.Sign(recs[i])
	}
	if err := r.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, err
	}
	// Exactly these, not "up to the last": with concurrent writers an event
	// of a smaller id may commit after this batch was read.
	r.metrics.count(recs)
	ids := make([]int64, len(evs))
	r.mu.Lock()
	for i, ev := range evs {
		ids[i] = ev.ID
		r.published[ev.ID] = true
	}
	r.mu.Unlock()
	select {
	case r.deletes <- ids:
	case <-ctx.Done():
		return len(evs), ctx.Err()
	}
	return len(evs), nil
}

// deleteLoop deletes what was published, until ctx is done. What it has not
// deleted when the relay stops is published again by the next one: at
// least once, and consumers drop the copies by seq.
func (r *Relay) deleteLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ids := <-r.deletes:
			err := r.store.Update(ctx, func(tx chatbus.Tx) error { return tx.DeleteEvents(ctx, ids) })
			if err != nil && ctx.Err() == nil {
				r.log.Warn("delete published events; they will be published again", "err", err)
			}
			r.mu.Lock()
			r.deletions++
			for _, id := range ids {
				delete(r.published, id)
				if err == nil {
					r.deleted[id] = r.deletions
				}
			}
			r.mu.Unlock()
		}
	}
}
