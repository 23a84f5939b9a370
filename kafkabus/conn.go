// Package kafkabus carries the messenger's operations over Kafka: the
// topics, the wire contract, the backend Server that answers requests, and
// the Client that asks them (for the web gateway and tests).
package kafkabus

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Conn is how to reach the cluster.
type Conn struct {
	Brokers  []string
	ClientID string
	Logger   *slog.Logger
	// TLS, when set, encrypts every connection to the brokers with it.
	TLS *tls.Config
	// SASL, when set, authenticates every connection (see NewSASL).
	SASL sasl.Mechanism
	// Keys sign what the backend publishes (replies, events) and what
	// frontends share (sessions), and check them where they are read.
	// Every chatbus part requires them: see sign.go.
	Keys *Keys
	// Extra options, for what the fields above do not cover.
	Extra []kgo.Opt
}

// Opts returns the client options every chatbus client shares.
//
//   - No linger: kgo's default 10 ms linger would add 10 ms to every
//     request and reply; a chat is latency-bound, not batch-bound.
//   - No compression: small JSON gains nothing, and every standard client
//     (kcat, kafkajs without plugins) must be able to read what we write.
//   - A short fetch wait: after a broker restart, the first long-polling
//     fetch may only be answered when it times out.
func (c Conn) Opts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS.Clone()))
	}
	if c.SASL != nil {
		opts = append(opts, kgo.SASL(c.SASL))
	}
	if c.Logger != nil {
		// The client's info logs (joins, assignments) are noise at info
		// level; they show when the logger is at debug.
		min := slog.LevelWarn
		if c.Logger.Enabled(context.Background(), slog.LevelDebug) {
			min = slog.LevelDebug
		}
		h := c.Logger.With("component", "kafka").Handler()
		opts = append(opts, kgo.WithLogger(kslog.New(slog.New(levelFloor{h, min}))))
	}
	return append(opts, c.Extra...)
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// errNoKeys is what a part that signs or checks records says without keys.
var errNoKeys = errors.New("kafkabus: no bus secret (Conn.Keys): replies, events and sessions are signed with it")
