// Package broker runs the embedded Kafka-protocol broker: franz-go's kfake
// with its data directory, so that topics, records and committed offsets
// survive a restart. It is the default for one machine; a real cluster
// replaces it by configuration alone.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config says where the broker listens and keeps its data.
type Config struct {
	// Addr is the listen address of the first broker (host:port; port 0
	// picks a free one). Further brokers listen on the same host, on free ports.
	Addr string
	// Dir holds the broker's data; it is locked while the broker runs.
	Dir string
	// Brokers is the number of brokers in the cluster (replication is
	// metadata only: all share one store).
	Brokers int
	// SyncWrites fsyncs every batch: safe against power loss, ~10x slower.
	SyncWrites bool
	// FlagName is the flag that sets Addr, named in the port-in-use error.
	FlagName string
	Logger   *slog.Logger
	// Users, when set, turn on SASL/SCRAM-SHA-512 and ACLs: only these
	// users get in, each with its ACLs (a superuser with all rights).
	Users []User
}

// User is a SASL/SCRAM-SHA-512 user of the broker.
type User struct {
	Name, Password string
	Superuser      bool
	ACLs           []kfake.ACL // literal or prefixed, each an Allow
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	lock    *os.File
	addrs   []string
}

// Start starts the broker. A taken port is a one-line error naming the port
// and the flag that changes it.
func Start(cfg Config) (*Broker, error) {
	if cfg.Brokers < 1 {
		cfg.Brokers = 1
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker address %q: %w", cfg.Addr, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("broker data directory: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	// kfake listens on 127.0.0.1 unless given a listen function; ours binds
	// the first broker to Addr and the others to free ports on the same host.
	n := 0
	listen := func(network, _ string) (net.Listener, error) {
		addr := net.JoinHostPort(host, "0")
		if n == 0 {
			addr = net.JoinHostPort(host, port)
		}
		n++
		return net.Listen(network, addr)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.Brokers),
		kfake.ListenFn(listen),
		kfake.DataDir(filepath.Join(cfg.Dir, "kafka")),
		kfake.ClusterID("chatbus"),
		kfake.DefaultNumPartitions(2),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL(), kfake.EnableACLs())
		for _, u := range cfg.Users {
			if u.Superuser {
				opts = append(opts, kfake.Superuser("SCRAM-SHA-512", u.Name, u.Password))
			} else {
				opts = append(opts, kfake.User("SCRAM-SHA-512", u.Name, u.Password, u.ACLs...))
			}
		}
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(logger{cfg.Logger}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		lock.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			flag := cfg.FlagName
			if flag == "" {
				flag = "--kafka-addr"
			}
			return nil, fmt.Errorf("the broker cannot listen on %s: port %s is in use (choose another with %s)", cfg.Addr, port, flag)
		}
		return nil, fmt.Errorf("start the embedded broker: %w", err)
	}
	return &Broker{cluster: c, lock: lock, addrs: c.ListenAddrs()}, nil
}

// Addrs returns the brokers' listen addresses, the first one first.
func (b *Broker) Addrs() []string { return b.addrs }

// Close stops the broker; it writes its state to disk before it returns.
func (b *Broker) Close() {
	b.cluster.Close()
	b.lock.Close() // releases the lock
}

// lockDir takes an exclusive lock on dir, because two brokers writing one
// data directory would corrupt it, and kfake does not guard against that.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "broker.lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock the broker data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("the data directory %s is in use by another chatbus broker (%v)", dir, err)
	}
	return f, nil
}

// logger adapts slog to kfake's logger.
type logger struct{ l *slog.Logger }

func (l logger) Logf(level kfake.LogLevel, msg string, args ...any) {
	lv := slog.LevelDebug
	switch level {
	case kfake.LogLevelError:
		lv = slog.LevelError
	case kfake.LogLevelWarn:
		lv = slog.LevelWarn
	}
	if l.l.Enabled(context.Background(), lv) {
		l.l.Log(context.Background(), lv, fmt.Sprintf(msg, args...), "component", "broker")
	}
}
