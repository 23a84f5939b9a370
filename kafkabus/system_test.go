package kafkabus_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/sqlite"
)

// system is a real embedded broker, a real SQLite file and a backend
// Server, as `chatbus run` wires them, on a test's own directory and port.
type system struct {
	t      testing.TB
	dir    string
	addr   string
	topics kafkabus.Topics
	logs   *syncBuffer

	broker *broker.Broker
	store  chatbus.Store
	cancel context.CancelFunc
	done   chan error
	client *kafkabus.Client
	// now, when set, is the backend's clock.
	now func() time.Time
	// wrap, when set, wraps the backend's service (to inject faults).
	wrap func(chatbus.Service) chatbus.Service
	// retryFor, when set, is the backend's RetryFor.
	retryFor time.Duration
	// reg, when set, gets the backend's and the client's metrics.
	reg        *prometheus.Registry
	srvMetrics *kafkabus.ServerMetrics
	cliMetrics *kafkabus.ClientMetrics
}

// fastHash keeps tests quick; the stored format is the same as production's.
var fastHash = chatbus.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

func startSystem(t testing.TB, options ...func(*system)) *system {
	t.Helper()
	s := &system{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", logs: &syncBuffer{},
		topics: kafkabus.Topics{Replication: 1}}
	for _, o := range options {
		o(s)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *system) conn() kafkabus.Conn {
	// Tests log everything (and check that no log line holds a secret);
	// benchmarks log what production logs.
	level := slog.LevelDebug
	if _, bench := s.t.(*testing.B); bench {
		level = slog.LevelInfo
	}
	return kafkabus.Conn{Brokers: s.broker.Addrs(), Keys: testKeys, Logger: slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: level}))}
}

// start starts the broker (on the same port after a restart), the store
// and the backend, and a client.
func (s *system) start() {
	t := s.t
	t.Helper()
	b, err := broker.Start(broker.Config{Addr: s.addr, Dir: s.dir})
	if err != nil {
		t.Fatal(err)
	}
	s.broker, s.addr = b, b.Addrs()[0]
	ctx := context.Background()
	s.ensureTopics(ctx)
	store, err := sqlite.Open(ctx, filepath.Join(s.dir, "chatbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.store = store
	s.startBackend()
	if s.reg != nil && s.cliMetrics == nil {
		s.cliMetrics = kafkabus.NewClientMetrics(s.reg)
	}
	c, err := kafkabus.NewClient(kafkabus.ClientConfig{Conn: s.conn(), Topics: s.topics, Timeout: 20 * time.Second, Metrics: s.cliMetrics})
	if err != nil {
		t.Fatal(err)
	}
	s.client = c
}

func (s *system) ensureTopics(ctx context.Context) {
	cl := s.kgo()
	defer cl.Close()
	if err := kafkabus.EnsureTopics(ctx, kadm.NewClient(cl), s.topics.Specs()); err != nil {
		s.t.Fatal(err)
	}
}

func (s *system) startBackend() {
	svc := chatbus.NewMessenger(s.store, chatbus.NewHasher(fastHash, 4))
	if s.now != nil {
		svc.Now = s.now
	}
	var service chatbus.Service = svc
	if s.wrap != nil {
		service = s.wrap(svc)
	}
	if s.reg != nil && s.srvMetrics == nil {
		s.srvMetrics = kafkabus.NewServerMetrics(s.reg)
	}
	srv, err := kafkabus.NewServer(kafkabus.ServerConfig{Conn: s.conn(), Topics: s.topics,
		RetryBackoff: 10 * time.Millisecond, RetryFor: s.retryFor, Metrics: s.srvMetrics}, service)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() { s.done <- srv.Run(ctx) }()
}

// stopBackend stops the backend gracefully and returns Run's error.
func (s *system) stopBackend() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		s.t.Fatal("backend did not stop within 30s")
		return nil
	}
}

func (s *system) stop() {
	if s.broker == nil {
		return
	}
	s.client.Close()
	if err := s.stopBackend(); err != nil {
		s.t.Errorf("backend stopped with: %v", err)
	}
	s.store.Close()
	s.broker.Close()
	s.broker = nil
	// No log line may ever hold a password or a password hash.
	logs := s.logs.String()
	for _, secret := range []string{"$argon2id", "s3cret-pw"} {
		if bytes.Contains([]byte(logs), []byte(secret)) {
			s.t.Errorf("the logs contain %q", secret)
		}
	}
}

func (s *system) restart() {
	s.stop()
	s.start()
}

// kgo returns a plain client of the cluster, as kcat would be.
func (s *system) kgo(opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.broker.Addrs()...), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	return cl
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
