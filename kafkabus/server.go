package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
)

// ServerConfig configures the backend's consumer.
type ServerConfig struct {
	Conn   Conn
	Topics Topics
	// Group is the consumer group the backends share (default chatbus-backend).
	Group string
	// InstanceID, when set, makes this backend a static member of the group
	// (Kafka's static membership): restarted with the same id, after a crash
	// or a deploy, it takes its partitions back at once instead of after the
	// session timeout. It must be unique among the backends; a static member
	// that stops for good holds its partitions until the session times out.
	InstanceID string
	// GroupProtocol is "classic" (the default: the members balance the
	// partitions among themselves, through the group's leader) or
	// "consumer" (KIP-848, Kafka 4.0+: the broker assigns partitions to
	// each member as it heartbeats, with no group-wide stop).
	GroupProtocol string
	// Timeout bounds the work on one request (default 30 s).
	Timeout time.Duration
	// RetryFor is how long a request that fails for an internal reason (the
	// database is gone) is tried again, stalling its partition alone, before
	// it is answered with an error and dead-lettered (default 1 min).
	RetryFor time.Duration
	// RetryBackoff is the first wait between tries; it doubles up to 5 s
	// (default 200 ms).
	RetryBackoff time.Duration
	// Metrics, when set, records requests served and consumer lag.
	Metrics *ServerMetrics
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
	// signUpTopic, loginTopic and chatTopic are looked at for every record.
	signUpTopic, loginTopic, chatTopic string

	mu       sync.Mutex
	assigned map[topicPartition]bool
	workers  map[topicPartition]*worker
	signups  *pending        // sign-ups held, for logins to wait on
	stopping <-chan struct{} // closed when Run's ctx is done
	fail     func(err error) // stops Run with err
}

// NewServer connects a backend to the cluster; Run starts serving.
func NewServer(cfg ServerConfig, svc chatbus.Service) (*Server, error) {
	if cfg.Group == "" {
		cfg.Group = "chatbus-backend"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = time.Minute
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 200 * time.Millisecond
	}
	s := &Server{svc: svc, cfg: cfg, byTopic: map[string]Operation{},
		assigned: map[topicPartition]bool{}, workers: map[topicPartition]*worker{}, signups: newPending()}
	s.log = cfg.Conn.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, op := range Operations {
		s.byTopic[cfg.Topics.Request(op)] = op
	}
	s.signUpTopic, s.loginTopic = cfg.Topics.Request(OpSignUp), cfg.Topics.Request(OpLogin)
	s.chatTopic = cfg.Topics.Request(OpAddChat)
	opts := append(cfg.Conn.Opts(),
		kgo.ConsumerGroup(cfg.Group),
		// A backend that dies (SIGKILL, a lost machine) holds its partitions
		// until its session times out, and a restarted one waits for that
		// too: 10 s instead of kgo's 45 s (the brokers' minimum is 6 s).
		kgo.SessionTimeout(10*time.Second),
		kgo.ConsumeTopics(cfg.Topics.requestTopics()...),
		// Only marked records (served and answered) are committed.
		kgo.AutoCommitMarks(),
		// Commit often: after a crash, what was served since the last
		// commit is redelivered (and answered from the outcomes again).
		kgo.AutoCommitInterval(time.Second),
		// A reply that cannot be written in time stops the backend rather
		// than hang it; the request is served again after the restart.
		kgo.RecordDeliveryTimeout(time.Minute),
		// A revoked partition's worker finishes the record in hand and its
		// offsets are committed before the partition moves on, so a
		// partition is never served by two backends at once.
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	)
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	switch cfg.GroupProtocol {
	case "", "classic":
	case "consumer":
		// kgo falls back to the classic protocol by itself where the
		// brokers lack KIP-848 (before Kafka 4.0; kfake has it).
		opts = append(opts, kgo.ServerSideBalancer())
	default:
		return nil, fmt.Errorf("group protocol %q: want classic or consumer", cfg.GroupProtocol)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	s.cl = cl
	return s, nil
}

// Run serves requests until ctx is done, then lets each partition finish the
// record in hand, commits what was answered and leaves the group. It returns
// an error only when replies cannot be written at all: the records not
// answered stay uncommitted and are served again (once) by whichever backend
// takes their partition.
func (s *Server) Run(ctx context.Context) error {
	s.stopping = ctx.Done()
	pollCtx, cancelPoll := context.WithCancelCause(ctx)
	s.fail = func(err error) { cancelPoll(err) }
	for {
		fetches := s.cl.PollRecords(pollCtx, 500)
		if fetches.IsClientClosed() || pollCtx.Err() != nil {
			break
		}
		fetches.EachError(func(topic string, p int32, err error) {
			s.log.Warn("fetch", "topic", topic, "partition", p, "err", err)
		})
		// Sign-ups are registered before any record of the poll is handed
		// out, so that a login in the same poll waits for its sign-up.
		fetches.EachPartition(func(p kgo.FetchTopicPartition) { s.holdSignUps(p.Topic, p.Partition, p.Records) })
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			s.cfg.Metrics.fetched(p)
			s.dispatch(p.Topic, p.Partition, p.Records)
		})
	}
	s.stopWorkers(nil)
	var runErr error
	if cause := context.Cause(pollCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		runErr = cause
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.cl.CommitMarkedOffsets(cctx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("commit offsets: %w", err))
	}
	s.cl.Close() // leaves the group; the revoke callback finds no workers
	return runErr
}

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// worker serves one partition: its records in order, independently of the
// other partitions, so one slow request holds up only its own partition.
type worker struct {
	tp    topicPartition
	mu    sync.Mutex
	queue []*kgo.Record
	wake  chan struct{} // a send means the queue grew
	quit  chan struct{} // closed: finish the record in hand, then stop
	done  chan struct{} // closed when the worker has stopped
}

// maxQueued is how many records a partition may have waiting before its
// fetching pauses, so a slow partition does not fill memory.
const maxQueued = 1000

// dispatch queues records to their partition's worker, starting one if
// needed. Records of a partition no longer assigned to us are dropped: they
// are not marked, and the partition's new owner serves them.
func (s *Server) dispatch(topic string, partition int32, records []*kgo.Record) {
	tp := topicPartition{topic, partition}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.assigned[tp] {
		s.served(records...) // not ours: they hold no login back
		return
	}
	w := s.workers[tp]
	if w == nil {
		w = &worker{tp: tp, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
		s.workers[tp] = w
		go s.runWorker(w)
	}
	w.mu.Lock()
	w.queue = append(w.queue, records...)
	full := len(w.queue) >= maxQueued
	w.mu.Unlock()
	if full {
		s.cl.PauseFetchPartitions(map[string][]int32{topic: {partition}})
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// holdSignUps registers the sign-ups among records of an assigned
// partition as pending, until they are served (or dropped).
func (s *Server) holdSignUps(topic string, partition int32, records []*kgo.Record) {
	if topic != s.signUpTopic {
		return
	}
	s.mu.Lock()
	assigned := s.assigned[topicPartition{topic, partition}]
	s.mu.Unlock()
	if assigned {
		for _, r := range records {
			s.signups.add(normalKey(r.Key))
		}
	}
}

func (s *Server) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range assigned {
		for _, p := range ps {
			s.assigned[topicPartition{topic, p}] = true
		}
	}
}

func (s *Server) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	s.stopWorkers(revoked)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		s.log.Warn("commit on revoke", "err", err)
	}
}

func (s *Server) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.stopWorkers(lost)
}

// stopWorkers stops the workers of the given partitions (all when nil)
// after the record each has in hand, and waits for them.
func (s *Server) stopWorkers(which map[string][]int32) {
	s.mu.Lock()
	var stopping []*worker
	for tp, w := range s.workers {
		if which == nil || slices.Contains(which[tp.topic], tp.partition) {
			delete(s.workers, tp)
			close(w.quit)
			stopping = append(stopping, w)
		}
	}
	for topic, ps := range which {
		for _, p := range ps {
			delete(s.assigned, topicPartition{topic, p})
		}
	}
	if which == nil {
		clear(s.assigned)
	}
	s.mu.Unlock()
	s.cfg.Metrics.forget(which)
	for _, w := range stopping {
		<-w.done
		s.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
}

func (s *Server) runWorker(w *worker) {
	defer close(w.done)
	defer func() { // records left unserved no longer hold logins back
		w.mu.Lock()
		s.served(w.queue...)
		w.queue = nil
		w.mu.Unlock()
	}()
	for {
		select {
		case <-w.quit:
			return
		case <-w.wake:
		}
		for {
			w.mu.Lock()
			batch := w.queue
			w.queue = nil
			w.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			s.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
			err := s.serveBatch(w, batch)
			s.served(batch...)
			if err != nil {
				s.fail(err)
				return
			}
		}
	}
}

// served releases the logins waiting on these records, if sign-ups.
func (s *Server) served(records ...*kgo.Record) {
	for _, r := range records {
		if r.Topic == s.signUpTopic {
			s.signups.finish(normalKey(r.Key))
		}
	}
}

// groupMax bounds the chat messages served in one transaction.
const groupMax = 256

// serveBatch serves records of one partition in order, writes their replies,
// and marks the records for commit once their replies are acknowledged. It
// stops early, leaving the rest unmarked, when the worker is told to quit.
// Chat messages are served in groups, one transaction each, when the
// service can: their replies go out only once the group is committed.
func (s *Server) serveBatch(w *worker, records []*kgo.Record) error {
	ctx := context.Background() // in-flight work finishes; each call has its own timeout
	type refusal struct {
		req, out *kgo.Record
		err      error
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused []refusal
	var served []*kgo.Record
	reply := func(r *kgo.Record, outs []*kgo.Record, code string, took time.Duration) {
		s.cfg.Metrics.served(s.byTopic[r.Topic].Name, code, took, len(outs) > 1)
		served = append(served, r)
		for _, out := range outs {
			wg.Add(1)
			s.cl.Produce(ctx, out, func(out *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					refused = append(refused, refusal{r, out, err})
					mu.Unlock()
				}
			})
		}
	}
	b, grouped := s.svc.(batcher)
	grouped = grouped && w.tp.topic == s.chatTopic
	oneByOne := 0 // records left to serve alone, after a group failed
	for len(records) > 0 {
		select {
		case <-w.quit:
			records = nil
		case <-s.stopping:
			records = nil
		default:
		}
		if len(records) == 0 {
			break
		}
		if grouped && oneByOne == 0 {
			group := records[:min(len(records), groupMax)]
			start := time.Now()
			if outs, codes, ok := s.serveGrouped(ctx, b, group); ok {
				took := time.Since(start)
				for i, r := range group {
					reply(r, outs[i], codes[i], took)
				}
				records = records[len(group):]
				continue
			}
			oneByOne = len(group) // a failed group is served one by one
		}
		oneByOne = max(0, oneByOne-1)
		r := records[0]
		if r.Topic == s.loginTopic {
			s.awaitSignUp(r, w.quit)
		}
		start := time.Now()
		outs, code, ok := s.serve(ctx, r, w.quit)
		if !ok {
			break // abandoned at shutdown: served again after the restart
		}
		reply(r, outs, code, time.Since(start))
		records = records[1:]
	}
	wg.Wait()
	for _, f := range refused {
		if err := s.replyFailed(ctx, f.req, f.out, f.err); err != nil {
			return err
		}
	}
	s.cl.MarkCommitRecords(served...)
	if len(served) > 0 {
		s.cfg.Metrics.reached(w.tp, served[len(served)-1].Offset+1)
	}
	return nil
}

// awaitSignUp holds a login while this backend holds a sign-up of the same
// key, for a few seconds at most.
func (s *Server) awaitSignUp(r *kgo.Record, quit <-chan struct{}) {
	wait := s.signups.wait(normalKey(r.Key))
	if wait == nil {
		return
	}
	select {
	case <-wait:
	case <-quit:
	case <-s.stopping:
	case <-time.After(5 * time.Second):
	}
}

// replyFailed handles a reply the broker refused. A refusal of the record
// itself (too large for the cluster's limit) is answered with a small error
// and the request dead-lettered, so it cannot stop the backend; anything
// else (the cluster is gone) is returned, which stops the backend.
func (s *Server) replyFailed(ctx context.Context, req, out *kgo.Record, err error) error {
	if !errors.Is(err, kerr.MessageTooLarge) && !errors.Is(err, kerr.RecordListTooLarge) && !errors.Is(err, kerr.InvalidRecord) {
		return fmt.Errorf("write %s: %w", out.Topic, err)
	}
	s.log.Error("the broker refused a reply; answering with an error", "topic", out.Topic, "err", err)
	cause := chatbus.Errorf(chatbus.CodeInternal, "the reply was refused by the broker: %v", err)
	small := &kgo.Record{Topic: out.Topic, Key: out.Key, Headers: out.Headers}
	small.Value, _ = encodeReply(answer{reply: &Status{}, err: cause})
	res := s.cl.ProduceSync(ctx, small, deadLetter(s.cfg.Topics.DeadLetter(), req, cause))
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("write %s: %w", out.Topic, err)
	}
	return nil
}
