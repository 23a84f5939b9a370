package kafkabus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
)

// Feed reads the user and room events for a frontend: every frontend reads
// them all, outside any group, and pushes those of the users connected to it.
type Feed struct {
	Conn   Conn
	Topics Topics
	// Backlog is how far back a starting feed reads (default 10 minutes),
	// and BacklogMax the most events per partition it reads back (default
	// 50,000): a restarted frontend can then resume streams cut before it
	// went down.
	Backlog    time.Duration
	BacklogMax int64
	// Metrics, when set, records how far the feed is behind.
	Metrics *FeedMetrics
}

// Run delivers the events to sink until ctx is done. The log sink sees is
// the user events' partitions, then the room events' partitions; its epoch
// comes from the two topics' ids, so that a recreated topic voids old
// positions.
func (f Feed) Run(ctx context.Context, sink chatbus.EventSink) error {
	if f.Conn.Keys == nil {
		return errNoKeys
	}
	log := f.Conn.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	refusals := newRefusals(log, "event")
	names := eventTopics(f.Topics)
	epoch, starts, ends, err := f.positions(ctx, log, names)
	if err != nil {
		return err
	}
	parts := map[string]int{} // the sink's first partition of each topic
	offsets := map[string]map[int32]kgo.Offset{}
	var from, until []int64
	for _, name := range names {
		parts[name] = len(from)
		offsets[name] = map[int32]kgo.Offset{}
		for p, at := range starts[name] {
			offsets[name][int32(p)] = kgo.NewOffset().At(at)
			from, until = append(from, at), append(until, ends[name][p])
		}
	}
	cl, err := kgo.NewClient(append(f.Conn.Opts(), kgo.ConsumePartitions(offsets))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	sink.Start(epoch, from, until)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) { log.Warn("fetch events", "topic", t, "partition", p, "err", err) })
		fetches.EachPartition(f.Metrics.fetched)
		fetches.EachRecord(func(rec *kgo.Record) {
			var ev chatbus.Event
			// A record the bus secret does not sign is no event: it would
			// show a forged message, and its seq would silence the room.
			// It still moves the position on, as an unreadable one.
			if why := f.Conn.Keys.Verify(rec); why != "" {
				f.Metrics.refused(rec.Topic, why)
				refusals.refused(rec, why)
			} else if err := json.Unmarshal(rec.Value, &ev); err != nil || (ev.UserID == "" && len(ev.To) == 0) {
				log.Warn("an unreadable event", "topic", rec.Topic, "offset", rec.Offset)
				ev = chatbus.Event{} // it still moves the position on
			}
			sink.Deliver(parts[rec.Topic]+int(rec.Partition), rec.Offset, ev)
		})
	}
}

// positions waits for the event topics to exist, then returns their epoch
// and, per topic and partition, where to start reading (Backlog ago, but no
// more than BacklogMax events back) and where the partition ends.
func (f Feed) positions(ctx context.Context, log *slog.Logger, names []string) (epoch string, starts, ends map[string][]int64, err error) {
	backlog, most := f.Backlog, f.BacklogMax
	if backlog <= 0 {
		backlog = 10 * time.Minute
	}
	if most <= 0 {
		most = 50_000
	}
	// The topics may be about to be created by a backend starting alongside:
	// look again soon, then less often, and complain only after a while.
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		epoch, starts, ends, err = f.startPositions(ctx, names, time.Now().Add(-backlog), most)
		if err == nil {
			return epoch, starts, ends, nil
		}
		level := slog.LevelDebug
		if wait >= time.Second {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "the event topics are not readable yet; waiting", "err", err, "retry", wait)
		select {
		case <-ctx.Done():
			return "", nil, nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// startPositions looks once, with a client of its own: a client remembers
// a topic it was told is unknown for a while, even once it exists.
func (f Feed) startPositions(ctx context.Context, names []string, since time.Time, most int64) (epoch string, starts, ends map[string][]int64, err error) {
	cl, err := kgo.NewClient(f.Conn.Opts()...)
	if err != nil {
		return "", nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tds, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return "", nil, nil, fmt.Errorf("list topics: %w", err)
	}
	endOffsets, err := adm.ListEndOffsets(ctx, names...)
	if err == nil {
		err = endOffsets.Error()
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("list end offsets: %w", err)
	}
	afters, err := adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), names...)
	if err == nil {
		err = afters.Error()
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("list offsets by time: %w", err)
	}
	h := sha256.New()
	starts, ends = map[string][]int64{}, map[string][]int64{}
	for _, name := range names {
		td, ok := tds[name]
		if !ok || td.Err != nil || len(td.Partitions) == 0 {
			return "", nil, nil, fmt.Errorf("topic %s is missing", name)
		}
		h.Write(td.ID[:])
		starts[name], ends[name] = make([]int64, len(td.Partitions)), make([]int64, len(td.Partitions))
		for p := range starts[name] {
			end, ok1 := endOffsets.Lookup(name, int32(p))
			after, ok2 := afters.Lookup(name, int32(p))
			if !ok1 || !ok2 || end.Offset < 0 {
				return "", nil, nil, fmt.Errorf("no offsets for %s/%d", name, p)
			}
			at := after.Offset
			if at < 0 || at > end.Offset {
				at = end.Offset
			}
			starts[name][p], ends[name][p] = max(at, end.Offset-most), end.Offset
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:4]), starts, ends, nil
}
