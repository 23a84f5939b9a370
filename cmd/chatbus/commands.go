package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/sqlite"
)

// Flags shared by several commands.
type dataFlags struct {
	DataDir string `help:"Directory for the embedded broker's log and the SQLite database." default:"./data" type:"path"`
}

type brokerFlags struct {
	KafkaAddr   string `help:"Listen address of the embedded broker. Use 0.0.0.0:PORT only if other machines must reach it." default:"127.0.0.1:9092"`
	SyncWrites  bool   `help:"fsync every batch the embedded broker writes (safe against power loss, much slower)."`
	BrokerCount int    `help:"Number of brokers in the embedded cluster (replication is metadata only)." default:"1" name:"broker-count"`
}

type kafkaFlags struct {
	Brokers         []string      `help:"Seed brokers of an external Kafka cluster (host:port,…). When set, no embedded broker is started." sep:","`
	ClientID        string        `help:"Kafka client id." default:"chatbus"`
	TopicPrefix     string        `help:"Prefix of every topic name." default:""`
	Replication     int16         `help:"Replication factor of created topics (0: 1 on the embedded broker, 3 on a cluster)." default:"0"`
	Partitions      []string      `help:"Partition count overrides, as topic=count (topic without prefix), e.g. user-add-chat-request=12." sep:","`
	Retention       time.Duration `help:"How long request and reply topics keep records." default:"168h"`
	SecretRetention time.Duration `help:"How long login and sign-up requests (which hold passwords) are kept." default:"1h"`
}

type backendFlags struct {
	DB           string        `help:"Database: a SQLite file path (default: DATA_DIR/chatbus.db)."`
	Group        string        `help:"Consumer group of the backends." default:"chatbus-backend"`
	HashParallel int           `help:"How many password hashes may run at once (each holds 19 MiB)." default:"0"`
	Timeout      time.Duration `help:"Time limit for serving one request." default:"30s"`
}

type runCmd struct {
	dataFlags
	brokerFlags
	kafkaFlags
	backendFlags
	HTTPAddr string `help:"Listen address of the web endpoint (health check now; the web gateway next)." default:"127.0.0.1:8080" name:"http-addr"`
}

type brokerCmd struct {
	dataFlags
	brokerFlags
}

type backendCmd struct {
	dataFlags
	kafkaFlags
	backendFlags
}

func (c *brokerCmd) Run(ctx context.Context, log *slog.Logger) error {
	b, err := startBroker(c.DataDir, c.brokerFlags, log)
	if err != nil {
		return err
	}
	defer b.Close()
	<-ctx.Done()
	log.Info("stopping the broker")
	return nil
}

func (c *backendCmd) Run(ctx context.Context, log *slog.Logger) error {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	return runBackend(ctx, log, c.DataDir, c.kafkaFlags, c.backendFlags, false)
}

func (c *runCmd) Run(ctx context.Context, log *slog.Logger) error {
	embedded := len(c.Brokers) == 0
	if embedded {
		b, err := startBroker(c.DataDir, c.brokerFlags, log)
		if err != nil {
			return err
		}
		defer func() {
			b.Close()
			log.Info("broker stopped; its state is on disk", "dir", c.DataDir)
		}()
		c.Brokers = b.Addrs()
	}
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (choose another with --http-addr): %w", c.HTTPAddr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok\n"))
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	log.Info("web endpoint listening", "addr", ln.Addr().String())
	return runBackend(ctx, log, c.DataDir, c.kafkaFlags, c.backendFlags, embedded)
}

func startBroker(dir string, f brokerFlags, log *slog.Logger) (*broker.Broker, error) {
	b, err := broker.Start(broker.Config{Addr: f.KafkaAddr, Dir: dir, Brokers: f.BrokerCount,
		SyncWrites: f.SyncWrites, FlagName: "--kafka-addr", Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("embedded broker listening", "addrs", strings.Join(b.Addrs(), ","), "dir", dir)
	return b, nil
}

// topics builds the topic settings from the flags.
func (f kafkaFlags) topics(embedded bool) (kafkabus.Topics, error) {
	t := kafkabus.Topics{Prefix: f.TopicPrefix, Replication: f.Replication, Retention: f.Retention,
		SecretRetention: f.SecretRetention, Partitions: map[string]int32{}}
	if t.Replication == 0 && embedded {
		t.Replication = 1
	} // else 0: ensureTopics takes min(3, the cluster's brokers)
	known := map[string]bool{}
	for _, spec := range (kafkabus.Topics{}).Specs() {
		known[spec.Name] = true
	}
	for _, p := range f.Partitions {
		name, n, ok := strings.Cut(p, "=")
		var count int32
		if _, err := fmt.Sscan(n, &count); !ok || err != nil || count < 1 {
			return t, fmt.Errorf("--partitions %q: want topic=count with count ≥ 1", p)
		}
		if !known[name] {
			return t, fmt.Errorf("--partitions %q: no topic %q (name it without the prefix, e.g. user-add-chat-request)", p, name)
		}
		t.Partitions[name] = count
	}
	return t, nil
}

// runBackend opens the store, makes sure the topics exist and serves
// requests until ctx is done.
func runBackend(ctx context.Context, log *slog.Logger, dataDir string, kf kafkaFlags, bf backendFlags, embedded bool) error {
	topics, err := kf.topics(embedded)
	if err != nil {
		return err
	}
	conn := kafkabus.Conn{Brokers: kf.Brokers, ClientID: kf.ClientID, Logger: log}
	if err := ensureTopics(ctx, conn, topics); err != nil {
		return err
	}

	dbPath := bf.DB
	if dbPath == "" {
		dbPath = filepath.Join(dataDir, "chatbus.db")
	}
	store, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer store.Close()
	log.Info("database open", "path", dbPath)

	parallel := bf.HashParallel
	if parallel <= 0 {
		parallel = 2 * runtime.GOMAXPROCS(0)
	}
	svc := chatbus.NewMessenger(store, chatbus.NewHasher(chatbus.DefaultArgon2, parallel))
	// Idempotency records must outlive every request that may be delivered
	// again: those still in the topics.
	go pruneOutcomes(ctx, log, svc, topics.MaxRecordAge()+24*time.Hour)

	srv, err := kafkabus.NewServer(kafkabus.ServerConfig{Conn: conn, Topics: topics, Group: bf.Group, Timeout: bf.Timeout}, svc)
	if err != nil {
		return err
	}
	log.Info("backend serving", "group", bf.Group, "brokers", strings.Join(kf.Brokers, ","))
	err = srv.Run(ctx)
	log.Info("backend stopped")
	return err
}

func ensureTopics(ctx context.Context, conn kafkabus.Conn, topics kafkabus.Topics) error {
	cl, err := kgo.NewClient(conn.Opts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	if topics.Replication == 0 {
		brokers, err := adm.ListBrokers(ctx)
		if err != nil {
			return fmt.Errorf("the Kafka cluster at %s did not answer: %w", strings.Join(conn.Brokers, ","), err)
		}
		topics.Replication = int16(min(3, len(brokers)))
	}
	if err := kafkabus.EnsureTopics(ctx, adm, topics.Specs()); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("the Kafka cluster at %s did not answer: %w", strings.Join(conn.Brokers, ","), err)
		}
		return err
	}
	return nil
}

// pruneOutcomes deletes, hourly, the idempotency records older than age.
func pruneOutcomes(ctx context.Context, log *slog.Logger, m *chatbus.Messenger, age time.Duration) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := m.PruneOutcomes(ctx, age)
		if err != nil && ctx.Err() == nil {
			log.Warn("prune idempotency records", "err", err)
		} else if n > 0 {
			log.Info("pruned idempotency records", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
