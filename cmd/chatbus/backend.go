package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/postgres"
	"github.com/chatbus/chatbus/sqlite"
	"github.com/chatbus/chatbus/sqlstore"
)

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
func runBackend(ctx context.Context, log *slog.Logger, o *ops, dataDir string, conn kafkabus.Conn, kf kafkaFlags, bf backendFlags, embedded bool) error {
	o.expect("kafka", "database")
	topics, err := kf.topics(embedded)
	if err != nil {
		return err
	}
	if err := ensureTopics(ctx, conn, topics); err != nil {
		return kf.explainKafka(err)
	}

	store, err := openStore(ctx, log, dataDir, bf.DB)
	if err != nil {
		return err
	}
	defer store.Close()
	o.watchDB(store)
	if _, err := o.watchKafka(conn, topics); err != nil {
		return err
	}

	parallel := bf.HashParallel
	if parallel <= 0 {
		parallel = 2 * runtime.GOMAXPROCS(0)
	}
	svc := chatbus.NewMessenger(store, chatbus.NewHasher(chatbus.DefaultArgon2, parallel))
	// The relay publishes the events each write saves in the outbox.
	relay, err := kafkabus.NewRelay(conn, topics, store)
	if err != nil {
		return err
	}
	svc.Wrote = relay.Poke
	if bf.InstanceID != "" {
		relay.Holder = bf.InstanceID
	}
	relay.Instrument(kafkabus.NewRelayMetrics(o.reg))
	relayDone := make(chan struct{})
	go func() { relay.Run(ctx); close(relayDone) }()
	defer func() { <-relayDone }()
	// Idempotency records must outlive every request that may be delivered
	// again: those still in the topics.
	go pruneOutcomes(ctx, log, svc, topics.MaxRecordAge()+24*time.Hour)

	srv, err := kafkabus.NewServer(kafkabus.ServerConfig{Conn: conn, Topics: topics, Group: bf.Group, InstanceID: bf.InstanceID, GroupProtocol: bf.GroupProtocol, Timeout: bf.Timeout,
		Metrics: kafkabus.NewServerMetrics(o.reg)}, svc)
	if err != nil {
		return err
	}
	log.Info("backend serving", "group", bf.Group, "brokers", strings.Join(kf.Brokers, ","))
	err = srv.Run(ctx)
	log.Info("backend stopped")
	return err
}

// openStore opens the database --db names: PostgreSQL for a postgres:// or
// postgresql:// URL, else a SQLite file (DATA_DIR/chatbus.db by default).
func openStore(ctx context.Context, log *slog.Logger, dataDir, db string) (*sqlstore.Store, error) {
	if postgres.IsURL(db) {
		store, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, err
		}
		shown := "postgres" // the URL without its password
		if u, err := url.Parse(db); err == nil {
			shown = u.Redacted()
		}
		log.Info("database open", "postgres", shown)
		return store, nil
	}
	if db == "" {
		db = filepath.Join(dataDir, "chatbus.db")
		// Against a cluster no embedded broker has made the directory.
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	store, err := sqlite.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	log.Info("database open", "path", db)
	return store, nil
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
	asked := topics.Replication
	topics, err = kafkabus.ResolveReplication(ctx, adm, topics)
	if err == nil && asked == 0 && topics.Replication < 3 && conn.Logger != nil {
		// A broker down now would make every topic created now smaller
		// for good; --replication 3 refuses to instead.
		conn.Logger.Warn("fewer than 3 brokers are up: topics created now get fewer replicas (give --replication 3 to refuse instead)",
			"replication", topics.Replication)
	}
	if err == nil {
		err = kafkabus.EnsureTopics(ctx, adm, topics.Specs())
	}
	return clusterErr(conn, err)
}

// clusterErr names the cluster in an error of talking to it.
func clusterErr(conn kafkabus.Conn, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the Kafka cluster at %s did not answer: %w", strings.Join(conn.Brokers, ","), err)
	default:
		return fmt.Errorf("the Kafka cluster at %s: %w", strings.Join(conn.Brokers, ","), err)
	}
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
