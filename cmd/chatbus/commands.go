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
)

func (c *brokerCmd) Run(ctx context.Context, log *slog.Logger, o *ops) error {
	b, err := startBroker(c.DataDir, c.brokerFlags, log)
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
		return errors.New("--kafka-tls, --kafka-ca, --kafka-sasl and the like are for a cluster given with --brokers: the embedded broker serves plain TCP without SASL")
	}
	// Certificate files are read before anything starts.
	conn, err := c.conn(log)
	if err != nil {
		return err
	}
	if conn.Keys, err = c.keys(c.DataDir, true); err != nil {
		return err
	}
	if embedded {
		b, err := startBroker(c.DataDir, c.brokerFlags, log)
		if err != nil {
			return err
		}
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
	go func() { errs <- runBackend(ctx, log, o, c.DataDir, conn, c.kafkaFlags, c.backendFlags, embedded) }()
	go func() { errs <- runFrontend(ctx, log, o, ln, conn, c.kafkaFlags, c.webFlags) }()
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

func startBroker(dir string, f brokerFlags, log *slog.Logger) (*broker.Broker, error) {
	b, err := broker.Start(broker.Config{Addr: f.KafkaAddr, Dir: dir, Brokers: f.BrokerCount,
		SyncWrites: f.SyncWrites, FlagName: "--kafka-addr", Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("embedded broker listening", "addrs", strings.Join(b.Addrs(), ","), "dir", dir)
	return b, nil
}
