package kafkabus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
)

// MaxReplyBytes bounds a reply's value, below the 1 MiB a record may hold on
// a broker with default settings. A larger reply is cut down where it can be
// (a history page) or answered with an error.
const MaxReplyBytes = 900 << 10

// serve runs one request and returns the records to write: its reply and,
// for a request that cannot be served, its copy in the dead-letter topic.
// ok is false when the request was abandoned because the worker was told to
// quit while retrying: it stays unanswered and uncommitted.
func (s *Server) serve(ctx context.Context, r *kgo.Record, quit <-chan struct{}) (out []*kgo.Record, code string, ok bool) {
	op := s.byTopic[r.Topic]
	corrID := header(r, HeaderCorrelationID)
	key := idempotencyKey(r, corrID)
	// A request that fails for an internal reason is tried again with
	// backoff for RetryFor, stalling only its own partition.
	var a answer
	backoff, deadline := s.cfg.RetryBackoff, time.Now().Add(s.cfg.RetryFor)
	for try := 1; ; try++ {
		a = s.call(ctx, op, key, r.Value)
		if chatbus.ErrorCode(a.err) != chatbus.CodeInternal || time.Now().Add(backoff).After(deadline) {
			break
		}
		s.recordLog(r).Warn("request failed; retrying", "err", a.err, "try", try)
		select {
		case <-quit:
			return nil, "", false
		case <-s.stopping:
			return nil, "", false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return s.replies(r, a), answerCode(a), true
}

// answerCode is the wire's errorCode of an answer, or ok.
func answerCode(a answer) string {
	if a.err == nil {
		return "ok"
	}
	return WireCode(chatbus.ErrorCode(a.err))
}

// serveGrouped serves records of one partition in one transaction of the
// store, when the service can group writes: one commit for many chat
// messages. ok is false when a record failed for an internal reason: every
// effect of the group is then undone, and the caller serves the records one
// by one, with retries.
func (s *Server) serveGrouped(ctx context.Context, b batcher, records []*kgo.Record) (outs [][]*kgo.Record, codes []string, ok bool) {
	errAgain := errors.New("served again one by one")
	err := b.Batch(ctx, func(ctx context.Context) error {
		outs, codes = outs[:0], codes[:0]
		for _, r := range records {
			a := s.call(ctx, s.byTopic[r.Topic], idempotencyKey(r, header(r, HeaderCorrelationID)), r.Value)
			if chatbus.ErrorCode(a.err) == chatbus.CodeInternal {
				return errAgain
			}
			outs, codes = append(outs, s.replies(r, a)), append(codes, answerCode(a))
		}
		return nil
	})
	if err != nil && !errors.Is(err, errAgain) {
		s.log.Warn("a group of requests failed; serving them one by one", "err", err, "requests", len(records))
	}
	return outs, codes, err == nil
}

// batcher is a service that can run writes in one transaction
// (chatbus.Messenger over a store that batches).
type batcher interface {
	Batch(ctx context.Context, fn func(ctx context.Context) error) error
}

// recordLog is the logger of one request, made only when there is
// something to log: this is the path of every request.
func (s *Server) recordLog(r *kgo.Record) *slog.Logger {
	log := s.log.With("op", s.byTopic[r.Topic].Name, "topic", r.Topic, "partition", r.Partition,
		"offset", r.Offset, "correlationId", header(r, HeaderCorrelationID))
	if rid := header(r, HeaderRequestID); rid != "" {
		log = log.With("requestId", rid)
	}
	return log
}

// replies returns the records that answer r with a: its reply and, for a
// request that cannot be served, its copy in the dead-letter topic.
func (s *Server) replies(r *kgo.Record, a answer) []*kgo.Record {
	op := s.byTopic[r.Topic]
	if chatbus.ErrorCode(a.err) == chatbus.CodeInternal {
		s.recordLog(r).Error("request failed; dead-lettered", "err", a.err)
		a.poison = true
	} else if a.poison {
		s.recordLog(r).Warn("unusable request; dead-lettered", "err", a.err)
	}

	value, err := encodeReply(a)
	for err == nil && len(value) > MaxReplyBytes {
		if sh, ok := a.reply.(shrinker); ok && sh.shrink() {
			value, err = encodeReply(a)
			continue
		}
		a.err = chatbus.Errorf(chatbus.CodeInternal, "the reply would be %d bytes, more than the %d a reply may hold", len(value), MaxReplyBytes)
		a.reply = &Status{}
		s.recordLog(r).Error("reply too large", "bytes", len(value))
		value, err = encodeReply(a)
	}
	if err != nil {
		s.recordLog(r).Error("encode reply", "err", err)
		a.err, a.poison = err, true
		value, _ = encodeReply(answer{reply: &Status{}, err: err})
	}
	replyKey := []byte(a.key)
	if a.key == "" {
		replyKey = r.Key
	}
	out := []*kgo.Record{{Topic: s.cfg.Topics.Response(op), Key: replyKey, Value: value}}
	if corrID := header(r, HeaderCorrelationID); corrID != "" {
		out[0].Headers = []kgo.RecordHeader{{Key: HeaderCorrelationID, Value: []byte(corrID)}}
	}
	if a.poison {
		out = append(out, s.deadLetter(r, a.err))
	}
	return out
}

// idempotencyKey names a request so that doing it again is recognised: by
// the caller's correlation id, else by the record's position (what a
// redelivery repeats) and timestamp (which a log that started over does
// not). Either way the content's hash is part of it, so one id reused for
// another request — by mistake or by another user — is not confused with it.
func idempotencyKey(r *kgo.Record, corrID string) string {
	h := sha256.New()
	h.Write(r.Key)
	h.Write([]byte{0})
	h.Write(r.Value)
	sum := hex.EncodeToString(h.Sum(nil)[:12])
	if corrID != "" {
		return "c/" + corrID + "/" + sum
	}
	return fmt.Sprintf("p/%s/%d/%d/%d/%s", r.Topic, r.Partition, r.Offset, r.Timestamp.UnixMilli(), sum)
}

// call runs the operation under its idempotency key, never panicking: a
// panic is a bug, reported as an internal error for this request alone.
func (s *Server) call(ctx context.Context, op Operation, key string, value []byte) (a answer) {
	ctx, cancel := context.WithTimeout(chatbus.WithIdempotencyKey(ctx, key), s.cfg.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			a = answer{reply: &Status{}, err: fmt.Errorf("panic: %v", p)}
		}
	}()
	return endpoints[op.Name](ctx, s.svc, value)
}

// deadLetter is the copy of a request that could not be served, with its
// origin and the error in headers, for an operator to look at or replay.
// A request of an operation that carries passwords may hold one in any
// shape — a number, cut short, nested, under a name spelled otherwise —
// so its dead letter holds no value at all, only the value's SHA-256 (to
// find the request in its topic, as long as that keeps it), and goes to a
// topic of its own that keeps records no longer than the request topics.
func (s *Server) deadLetter(r *kgo.Record, cause error) *kgo.Record {
	headers := append([]kgo.RecordHeader(nil), r.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(chatbus.ErrorMessage(cause))},
	)
	if !s.byTopic[r.Topic].Secret {
		return &kgo.Record{Topic: s.cfg.Topics.DeadLetter(), Key: r.Key, Value: r.Value, Headers: headers}
	}
	sum := sha256.Sum256(r.Value)
	headers = append(headers, kgo.RecordHeader{Key: HeaderDLQValueSHA256, Value: []byte(hex.EncodeToString(sum[:]))})
	return &kgo.Record{Topic: s.cfg.Topics.SecretDeadLetter(), Key: r.Key, Headers: headers}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
