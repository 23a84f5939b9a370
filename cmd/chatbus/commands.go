package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
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
	"github.com/chatbus/chatbus/web"
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

type webFlags struct {
	HTTPAddr       string        `help:"Listen address of the web gateway." default:"127.0.0.1:8080" name:"http-addr"`
	SessionIdle    time.Duration `help:"A session ends after so long unused." default:"24h"`
	SessionMax     time.Duration `help:"A session ends so long after login." default:"720h"`
	RequestTimeout time.Duration `help:"How long the gateway waits for the backend's reply." default:"10s"`
	LimitsExempt   []string      `help:"Addresses (CIDR) exempt from rate and connection limits, e.g. 127.0.0.1/32 for a local load test." sep:","`
	TrustedOrigins []string      `help:"Origins allowed to make cross-origin requests (behind a proxy that rewrites Host), e.g. https://chat.example.com." sep:","`
	SecureCookies  bool          `help:"Mark cookies Secure though served over HTTP (behind a proxy that ends TLS)."`
	TrustedProxies []string      `help:"Reverse proxies (CIDR) whose X-Forwarded-For names the client, for rate limits." sep:","`
	StreamsPerUser int           `help:"Open event streams allowed per user (devices and tabs)." default:"10"`
	StreamsPerAddr int           `help:"Open event streams allowed per address before login." default:"20"`
}

type runCmd struct {
	dataFlags
	brokerFlags
	kafkaFlags
	backendFlags
	webFlags
}

type frontendCmd struct {
	kafkaFlags
	webFlags
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
	// The web gateway listens first, so that a taken port fails at once.
	ln, err := listenHTTP(c.HTTPAddr)
	if err != nil {
		return err
	}
	// Backend and frontend run side by side and talk only through Kafka;
	// when one stops, the other is stopped too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- runBackend(ctx, log, c.DataDir, c.kafkaFlags, c.backendFlags, embedded) }()
	go func() { errs <- runFrontend(ctx, log, ln, c.kafkaFlags, c.webFlags) }()
	err = <-errs
	cancel()
	return errors.Join(err, <-errs)
}

func (c *frontendCmd) Run(ctx context.Context, log *slog.Logger) error {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	ln, err := listenHTTP(c.HTTPAddr)
	if err != nil {
		return err
	}
	return runFrontend(ctx, log, ln, c.kafkaFlags, c.webFlags)
}

func prefixes(flag string, cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, cidr := range cidrs {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, cidr, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func listenHTTP(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the web gateway cannot listen on %s (choose another with --http-addr): %w", addr, err)
	}
	return ln, nil
}

// runFrontend serves the web gateway on ln until ctx is done; it reaches the
// backend through Kafka only.
func runFrontend(ctx context.Context, log *slog.Logger, ln net.Listener, kf kafkaFlags, wf webFlags) error {
	// A failure to serve stops this frontend's other parts too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	topics, err := kf.topics(false)
	if err != nil {
		return err
	}
	client, err := kafkabus.NewClient(kafkabus.ClientConfig{
		Conn:    kafkabus.Conn{Brokers: kf.Brokers, ClientID: kf.ClientID + "-frontend", Logger: log},
		Topics:  topics,
		Timeout: wf.RequestTimeout,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	exempt, err := prefixes("--limits-exempt", wf.LimitsExempt)
	if err != nil {
		return err
	}
	proxies, err := prefixes("--trusted-proxies", wf.TrustedProxies)
	if err != nil {
		return err
	}
	gw, err := web.New(web.Config{Service: client, Logger: log, SessionIdle: wf.SessionIdle, SessionMax: wf.SessionMax,
		Exempt: exempt, TrustedProxies: proxies, TrustedOrigins: wf.TrustedOrigins, SecureCookies: wf.SecureCookies,
		StreamsPerUser: wf.StreamsPerUser, StreamsPerAddr: wf.StreamsPerAddr})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	gwDone := make(chan struct{})
	go func() { gw.Run(ctx); close(gwDone) }()
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		conn := kafkabus.Conn{Brokers: kf.Brokers, ClientID: kf.ClientID + "-events", Logger: log}
		if err := kafkabus.ReadEvents(ctx, conn, topics, gw); err != nil {
			log.Error("read events", "err", err)
		}
	}()
	defer func() { <-eventsDone }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("web gateway listening", "url", "http://"+ln.Addr().String())
	select {
	case err = <-serveErr:
		cancel()
	case <-ctx.Done():
	}
	<-gwDone // event streams are ended, so Shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	log.Info("web gateway stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
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
	// The relay publishes the events each write saves in the outbox.
	relay, err := kafkabus.NewRelay(conn, topics, store)
	if err != nil {
		return err
	}
	svc.Wrote = relay.Poke
	relayDone := make(chan struct{})
	go func() { relay.Run(ctx); close(relayDone) }()
	defer func() { <-relayDone }()
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
