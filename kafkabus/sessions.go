package kafkabus

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
)

// SessionLog keeps the frontends' sessions in the sessions topic, which
// every frontend reads whole: a session made on one is valid on all, and
// outlives any of them. Records are signed with the bus secret, so that a
// writer of the topic without it cannot mint a session, and keyed by the
// hash of the session's id, never the id: a reader of the topic cannot use
// what it reads.
//
// A session has two keys: "session/<hash>" holds its user and times (the
// last record counts, so renewing it is writing it again), and
// "ended/<hash>" says it was ended (a logout). Compaction keeps the last
// record of each key, so a session record written again after the logout
// (a replay) cannot hide the end: an ended session stays ended.
type SessionLog struct {
	cl       *kgo.Client
	adm      *kadm.Client
	topic    string
	keys     *Keys
	log      *slog.Logger
	refusals *refusals
	metrics  *FeedMetrics

	mu      sync.Mutex
	read    map[int32]int64 // per partition: the offset after the last record handed over
	moved   chan struct{}   // closed (and made anew) when read moves
	next    *syncRound      // the round that callers of Sync now wait for
	syncing bool
}

// syncRound is one look at the topic's end, shared by every Sync that
// came while the one before it ran: a flood of unknown cookies costs one
// look at a time.
type syncRound struct {
	done chan struct{}
	err  error
}

var _ chatbus.SessionLog = (*SessionLog)(nil)

// NewSessionLog connects to the cluster; the topic must exist (EnsureTopics
// with Topics.SessionSpec). Metrics, when set, counts refused records.
func NewSessionLog(conn Conn, topics Topics, metrics *FeedMetrics) (*SessionLog, error) {
	if conn.Keys == nil {
		return nil, errNoKeys
	}
	topic := topics.Sessions()
	cl, err := kgo.NewClient(append(conn.Opts(),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	log := conn.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SessionLog{cl: cl, adm: kadm.NewClient(cl), topic: topic, keys: conn.Keys, log: log,
		refusals: newRefusals(log, "session record"), metrics: metrics,
		read: map[int32]int64{}, moved: make(chan struct{})}, nil
}

// Close stops the log's client.
func (l *SessionLog) Close() { l.cl.Close() }

const (
	sessionPrefix = "session/"
	endedPrefix   = "ended/"
)

// sessionValue is a record's value; times in Unix milliseconds.
type sessionValue struct {
	User    *chatbus.User `json:"user,omitempty"`
	UserAt  int64         `json:"userAt,omitempty"`
	Created int64         `json:"createdAt"`
	Seen    int64         `json:"seenAt,omitempty"`
	Ended   int64         `json:"endedAt,omitempty"`
}

// Save writes rec and returns once the broker has it. An end is written
// as the end, then a tombstone of the session record (compaction can then
// drop the user's data; the end stays).
func (l *SessionLog) Save(ctx context.Context, rec chatbus.SessionRecord) error {
	hash := hex.EncodeToString(rec.Key[:])
	var recs []*kgo.Record
	if rec.Ended {
		v, _ := json.Marshal(sessionValue{Created: rec.Created.UnixMilli(), Ended: time.Now().UnixMilli()})
		recs = append(recs, &kgo.Record{Topic: l.topic, Key: []byte(endedPrefix + hash), Value: v},
			&kgo.Record{Topic: l.topic, Key: []byte(sessionPrefix + hash)})
	} else {
		u := rec.User
		v, err := json.Marshal(sessionValue{User: &u, UserAt: rec.UserAt.UnixMilli(), Created: rec.Created.UnixMilli(), Seen: rec.Seen.UnixMilli()})
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: l.topic, Key: []byte(sessionPrefix + hash), Value: v})
	}
	for _, r := range recs {
		l.keys.Sign(r)
	}
	if err := l.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return chatbus.Errorf(chatbus.CodeUnavailable, "cannot save the session: %v", err)
	}
	return nil
}

// Run reads the topic from its start and hands each record to apply.
func (l *SessionLog) Run(ctx context.Context, apply func(chatbus.SessionRecord)) error {
	for {
		fetches := l.cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			l.log.Warn("fetch sessions", "topic", t, "partition", p, "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if rec, ok := l.decode(r); ok {
				apply(rec)
			}
		})
		l.mu.Lock()
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				l.read[p.Partition] = max(l.read[p.Partition], p.Records[n-1].Offset+1)
			}
		})
		close(l.moved)
		l.moved = make(chan struct{})
		l.mu.Unlock()
	}
}

// decode returns the session a record tells of; ok is false for a
// tombstone, and for a record that is refused (not signed with the bus
// secret) or unreadable.
func (l *SessionLog) decode(r *kgo.Record) (rec chatbus.SessionRecord, ok bool) {
	if why := l.keys.Verify(r); why != "" {
		l.metrics.refused(r.Topic, why)
		l.refusals.refused(r, why)
		return rec, false
	}
	key := string(r.Key)
	hash, ended := strings.CutPrefix(key, endedPrefix)
	if !ended {
		hash, ok = strings.CutPrefix(key, sessionPrefix)
		if !ok || r.Value == nil {
			return rec, false
		}
	}
	b, err := hex.DecodeString(hash)
	var v sessionValue
	if err == nil {
		err = json.Unmarshal(r.Value, &v)
	}
	if err != nil || len(b) != len(rec.Key) || (!ended && v.User == nil) {
		l.log.Warn("an unreadable session record", "partition", r.Partition, "offset", r.Offset)
		return rec, false
	}
	copy(rec.Key[:], b)
	rec.Created, rec.Ended = time.UnixMilli(v.Created), ended
	if !ended {
		rec.User, rec.UserAt, rec.Seen = *v.User, time.UnixMilli(v.UserAt), time.UnixMilli(v.Seen)
	}
	return rec, true
}

// Sync waits until every record written before it was called has been
// handed over: a frontend that does not know a cookie's session asks,
// in case it was made a moment ago on another frontend (or before this
// one started).
func (l *SessionLog) Sync(ctx context.Context) error {
	l.mu.Lock()
	r := l.next
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		l.next = r
		if !l.syncing {
			l.syncing = true
			go l.syncRounds()
		}
	}
	l.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// syncRounds runs the rounds callers wait for, one after the other.
func (l *SessionLog) syncRounds() {
	for {
		l.mu.Lock()
		r := l.next
		l.next = nil
		if r == nil {
			l.syncing = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r.err = l.syncOnce(ctx)
		cancel()
		close(r.done)
	}
}

// syncOnce looks where the topic ends and waits until it was read so far.
// A partition whose start is its end has nothing to read.
func (l *SessionLog) syncOnce(ctx context.Context) error {
	starts, err := l.adm.ListStartOffsets(ctx, l.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("list start offsets of %s: %w", l.topic, err)
	}
	ends, err := l.adm.ListEndOffsets(ctx, l.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("list end offsets of %s: %w", l.topic, err)
	}
	for {
		behind := false
		l.mu.Lock()
		ends.Each(func(o kadm.ListedOffset) {
			start, _ := starts.Lookup(o.Topic, o.Partition)
			if o.Offset > start.Offset && l.read[o.Partition] < o.Offset {
				behind = true
			}
		})
		moved := l.moved
		l.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("read %s up to its end: %w", l.topic, ctx.Err())
		}
	}
}
