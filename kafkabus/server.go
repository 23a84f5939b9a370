package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
)

// ServerConfig configures the backend's consumer.
type ServerConfig struct {
	Conn   Conn
	Topics Topics
	// Group is the consumer group the backends share (default chatbus-backend).
	Group string
	// Timeout bounds the work on one request (default 30 s).
	Timeout time.Duration
	// Retries is how many times a request that failed for an internal reason
	// (not its content) is tried again before it is dead-lettered (default 2).
	Retries int
	// RetryBackoff is the first wait between tries; it doubles (default 200 ms).
	RetryBackoff time.Duration
}

// Server is the backend: one member of a consumer group over the request
// topics. Partitions are served concurrently, each record of a partition in
// order. Offsets are committed only after a record's effect is committed and
// its reply acknowledged by the broker; a record that cannot be served is
// answered with an error and moved to the dead-letter topic, so a partition
// never stalls on bad input.
type Server struct {
	svc     chatbus.Service
	cl      *kgo.Client
	cfg     ServerConfig
	log     *slog.Logger
	byTopic map[string]Operation
}

// NewServer connects a backend to the cluster; Run starts serving.
func NewServer(cfg ServerConfig, svc chatbus.Service) (*Server, error) {
	if cfg.Group == "" {
		cfg.Group = "chatbus-backend"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 200 * time.Millisecond
	}
	s := &Server{svc: svc, cfg: cfg, byTopic: map[string]Operation{}}
	s.log = cfg.Conn.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, op := range Operations {
		s.byTopic[cfg.Topics.Request(op)] = op
	}
	opts := append(cfg.Conn.Opts(),
		kgo.ConsumerGroup(cfg.Group),
		// A backend that dies (SIGKILL, a lost machine) holds its partitions
		// until its session times out, and a restarted one waits for that
		// too: 10 s instead of kgo's 45 s (the brokers' minimum is 6 s).
		kgo.SessionTimeout(10*time.Second),
		kgo.ConsumeTopics(cfg.Topics.requestTopics()...),
		// Rebalances wait until the records of a poll are done and marked,
		// so a partition is never served by two backends at once …
		kgo.BlockRebalanceOnPoll(),
		// … and only marked records (served and answered) are committed.
		kgo.AutoCommitMarks(),
		// Commit often: after a crash, what was served since the last
		// commit is redelivered (and answered from the outcomes again).
		kgo.AutoCommitInterval(time.Second),
		// A reply that cannot be written in time stops the backend rather
		// than hang it; the request is served again after the restart.
		kgo.RecordDeliveryTimeout(time.Minute),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				s.log.Warn("commit on revoke", "err", err)
			}
		}),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	s.cl = cl
	return s, nil
}

// Run serves requests until ctx is done, then finishes the records in hand,
// commits their offsets and leaves the group. It returns an error only when
// replies cannot be written: the records not answered stay uncommitted, and
// are served again (once) by whichever backend takes their partition.
func (s *Server) Run(ctx context.Context) error {
	defer s.cl.CloseAllowingRebalance() // leaves the group
	// In-flight work finishes after ctx is done, within its own timeout.
	work := context.WithoutCancel(ctx)
	var runErr error
	for runErr == nil {
		fetches := s.cl.PollRecords(ctx, 1000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			break
		}
		fetches.EachError(func(topic string, p int32, err error) {
			s.log.Warn("fetch", "topic", topic, "partition", p, "err", err)
		})
		var wg sync.WaitGroup
		var mu sync.Mutex
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			wg.Go(func() {
				if err := s.servePartition(work, p.Records); err != nil {
					mu.Lock()
					runErr = errors.Join(runErr, err)
					mu.Unlock()
				}
			})
		})
		wg.Wait()
		s.cl.AllowRebalance()
	}
	cctx, cancel := context.WithTimeout(work, 10*time.Second)
	defer cancel()
	if err := s.cl.CommitMarkedOffsets(cctx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("commit offsets: %w", err))
	}
	return runErr
}

// servePartition serves one partition's records in order, writes their
// replies, and marks the records for commit once every reply is acknowledged.
func (s *Server) servePartition(ctx context.Context, records []*kgo.Record) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var produceErr error
	acked := func(r *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			produceErr = errors.Join(produceErr, fmt.Errorf("write %s: %w", r.Topic, err))
			mu.Unlock()
		}
		wg.Done()
	}
	for _, r := range records {
		for _, out := range s.serve(ctx, r) {
			wg.Add(1)
			s.cl.Produce(ctx, out, acked)
		}
	}
	wg.Wait()
	if produceErr != nil {
		return produceErr
	}
	s.cl.MarkCommitRecords(records...)
	return nil
}

// serve runs one request and returns the records to write: its reply and,
// for a request that cannot be served, its copy in the dead-letter topic.
func (s *Server) serve(ctx context.Context, r *kgo.Record) []*kgo.Record {
	op := s.byTopic[r.Topic]
	corrID := header(r, HeaderCorrelationID)
	// The idempotency key: the caller's correlation id, else the record's
	// own position, which is what a redelivery repeats.
	key := corrID
	if key == "" {
		key = r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
	}
	log := s.log.With("op", op.Name, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "correlationId", corrID)

	var a answer
	backoff := s.cfg.RetryBackoff
	for try := 0; ; try++ {
		a = s.call(ctx, op, key, r.Value)
		if chatbus.ErrorCode(a.err) != chatbus.CodeInternal || try == s.cfg.Retries {
			break
		}
		log.Warn("request failed; retrying", "err", a.err, "try", try+1)
		time.Sleep(backoff)
		backoff *= 2
	}
	if chatbus.ErrorCode(a.err) == chatbus.CodeInternal {
		log.Error("request failed; dead-lettered", "err", a.err)
		a.poison = true
	} else if a.poison {
		log.Warn("unusable request; dead-lettered", "err", a.err)
	}

	value, err := encodeReply(a)
	if err != nil {
		log.Error("encode reply", "err", err)
		a.err, a.poison = err, true
		value, _ = encodeReply(answer{reply: &Status{}, err: err})
	}
	replyKey := []byte(a.key)
	if a.key == "" {
		replyKey = r.Key
	}
	out := []*kgo.Record{{Topic: s.cfg.Topics.Response(op), Key: replyKey, Value: value}}
	if corrID != "" {
		out[0].Headers = []kgo.RecordHeader{{Key: HeaderCorrelationID, Value: []byte(corrID)}}
	}
	if a.poison {
		out = append(out, deadLetter(s.cfg.Topics.DeadLetter(), r, a.err))
	}
	return out
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

func deadLetter(topic string, r *kgo.Record, cause error) *kgo.Record {
	headers := append([]kgo.RecordHeader(nil), r.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(chatbus.ErrorMessage(cause))},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: headers}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
