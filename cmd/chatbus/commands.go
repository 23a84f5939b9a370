package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
)

func (c *brokerCmd) Run(ctx context.Context, log *slog.Logger, o *ops) error {
	b, _, err := startBroker(c.DataDir, c.brokerFlags, kafkabus.Topics{Prefix: c.TopicPrefix}, c.Group, log)
	if err != nil {
		return err
	}
	defer b.Close()
	o.check("broker", func(context.Context) error { return nil }) // it listens
	<-ctx.Done()
	log.Info("stopping the broker")
	return nil
}

func (c *backendCmd) Run(ctx context.Context, log *slog.Logger, o *ops) error {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	conn, err := c.conn(log)
	if err != nil {
		return err
	}
	if conn.Keys, err = c.keys(c.DataDir, false); err != nil {
		return err
	}
	return runBackend(ctx, log, o, c.DataDir, conn, c.kafkaFlags, c.backendFlags, false)
}

func (c *runCmd) Run(ctx context.Context, log *slog.Logger, o *ops) error {
	embedded := len(c.Brokers) == 0
	if embedded && c.kafkaSecurityFlags.set() {
		return errors.New("--kafka-tls, --kafka-ca, --kafka-sasl and the like are for a cluster given with --brokers: the embedded broker serves plain TCP (with SASL/SCRAM by --kafka-auth)")
	}
	if !embedded && (c.KafkaAuth || c.KafkaNoAuth) {
		return errors.New("--kafka-auth and --kafka-no-auth are for the embedded broker; a cluster given with --brokers is reached with --kafka-sasl and the like")
	}
	// Certificate files are read before anything starts.
	conn, err := c.conn(log)
	if err != nil {
		return err
	}
	if conn.Keys, err = c.keys(c.DataDir, true); err != nil {
		return err
	}
	var passwords map[string]string // of the embedded broker's users, with --kafka-auth
	if embedded {
		topics, err := c.topics(true)
		if err != nil {
			return err
		}
		b, pws, err := startBroker(c.DataDir, c.brokerFlags, topics, c.Group, log)
		if err != nil {
			return err
		}
		passwords = pws
		defer func() {
			b.Close()
			log.Info("broker stopped; its state is on disk", "dir", c.DataDir)
		}()
		c.Brokers, conn.Brokers = b.Addrs(), b.Addrs()
	}
	// One process holds a data directory, so an id drawn from it is this
	// backend's alone: restarted, it takes its partitions back at once.
	if c.InstanceID == "" {
		if abs, err := filepath.Abs(c.DataDir); err == nil {
			sum := sha256.Sum256([]byte(abs))
			c.InstanceID = "chatbus-run-" + hex.EncodeToString(sum[:6])
		}
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
	// With --kafka-auth each logs in as its role, with only its rights.
	backConn, err := asRole(conn, passwords, kafkabus.RoleBackend)
	if err != nil {
		return err
	}
	frontConn, err := asRole(conn, passwords, kafkabus.RoleFrontend)
	if err != nil {
		return err
	}
	// The sessions topic first, with this --session-max: the backend,
	// which creates every topic, does not know it.
	topics, err := c.topics(embedded)
	if err != nil {
		return err
	}
	if err := ensureSessionTopic(ctx, frontConn, c.kafkaFlags, &topics, c.webFlags); err != nil {
		return err
	}
	go func() { errs <- runBackend(ctx, log, o, c.DataDir, backConn, c.kafkaFlags, c.backendFlags, embedded) }()
	go func() { errs <- runFrontend(ctx, log, o, ln, frontConn, c.kafkaFlags, c.webFlags) }()
	err = <-errs
	cancel()
	return errors.Join(err, <-errs)
}

func (c *frontendCmd) Run(ctx context.Context, log *slog.Logger, o *ops) error {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	conn, err := c.conn(log)
	if err != nil {
		return err
	}
	if conn.Keys, err = c.keys("", false); err != nil {
		return err
	}
	ln, err := listenHTTP(c.HTTPAddr)
	if err != nil {
		return err
	}
	return runFrontend(ctx, log, o, ln, conn, c.kafkaFlags, c.webFlags)
}

// startBroker starts the embedded broker; with --kafka-auth it returns the
// passwords of its users, whose ACLs name these topics and group.
func startBroker(dir string, f brokerFlags, topics kafkabus.Topics, group string, log *slog.Logger) (*broker.Broker, map[string]string, error) {
	if err := f.checkExposure(); err != nil {
		return nil, nil, err
	}
	cfg := broker.Config{Addr: f.KafkaAddr, Dir: dir, Brokers: f.BrokerCount,
		SyncWrites: f.SyncWrites, FlagName: "--kafka-addr", Logger: log}
	var passwords map[string]string
	if f.KafkaAuth {
		var err error
		if passwords, err = credentials(dir); err != nil {
			return nil, nil, err
		}
		cfg.Users = brokerUsers(passwords, topics, group)
	}
	b, err := broker.Start(cfg)
	if err != nil {
		return nil, nil, err
	}
	auth := "none"
	if f.KafkaAuth {
		auth = "SASL/SCRAM-SHA-512, users in " + filepath.Join(dir, authDirName)
	}
	log.Info("embedded broker listening", "addrs", strings.Join(b.Addrs(), ","), "dir", dir, "auth", auth)
	return b, passwords, nil
}
