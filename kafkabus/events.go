package kafkabus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
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
	log    *slog.Logger
	poke   chan struct{}
	// metrics, when set by Instrument, counts what is published.
	metrics *RelayMetrics
}

// NewRelay connects a relay to the cluster.
func NewRelay(conn Conn, topics Topics, store chatbus.Store) (*Relay, error) {
	cl, err := kgo.NewClient(conn.Opts()...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	log := conn.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{store: store, cl: cl, topics: topics, log: log, poke: make(chan struct{}, 1)}, nil
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

// publish sends one batch of pending events and deletes them.
func (r *Relay) publish(ctx context.Context) (int, error) {
	var evs []chatbus.Event
	err := r.store.View(ctx, func(tx chatbus.Tx) (err error) {
		evs, err = tx.PendingEvents(ctx, 500)
		return err
	})
	if err != nil || len(evs) == 0 {
		return 0, err
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
	}
	if err := r.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, err
	}
	// Exactly these, not "up to the last": with concurrent writers an event
	// of a smaller id may commit after this batch was read.
	r.metrics.count(recs)
	ids := make([]int64, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return len(evs), r.store.Update(ctx, func(tx chatbus.Tx) error { return tx.DeleteEvents(ctx, ids) })
}
