package kafkabus_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/internal/testpki"
	"github.com/chatbus/chatbus/kafkabus"
)

// secureCluster starts a one-broker kfake cluster with opts.
func secureCluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// roundTrip does through conn what a backend does first: it creates the
// topics, then writes a record and reads it back. It gives up after 10 s.
func roundTrip(conn kafkabus.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics := kafkabus.Topics{Prefix: "sec.", Replication: 1}
	cl, err := kgo.NewClient(conn.Opts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafkabus.EnsureTopics(ctx, kadm.NewClient(cl), topics.Specs()); err != nil {
		return err
	}
	topic := topics.DeadLetter()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("hello")}).FirstErr(); err != nil {
		return err
	}
	cl.AddConsumeTopics(topic)
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, r := range fs.Records() {
			if string(r.Value) == "hello" {
				return nil
			}
		}
	}
}

// TestSASL: with each mechanism, the right user and password create the
// topics and produce and consume; a wrong password, an unknown user or no
// SASL at all fail within the time limit, with an error that says so.
func TestSASL(t *testing.T) {
	addrs := secureCluster(t, kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plainuser", "plain-pw"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pw-256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pw-512"))
	for _, tc := range []struct {
		mechanism, user, password string
		ok                        bool
	}{
		{"plain", "plainuser", "plain-pw", true},
		{"scram-sha-256", "scram256", "pw-256", true},
		{"SCRAM-SHA-512", "scram512", "pw-512", true},
		{"plain", "plainuser", "wrong", false},
		{"scram-sha-256", "scram256", "wrong", false},
		{"scram-sha-512", "scram512", "wrong", false},
		{"scram-sha-512", "nobody", "pw-512", false},
		{"scram-sha-512", "scram256", "pw-256", false}, // a user of another mechanism
	} {
		t.Run(tc.mechanism+"/"+tc.user+"/"+tc.password, func(t *testing.T) {
			mech, err := kafkabus.NewSASL(tc.mechanism, tc.user, tc.password)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = roundTrip(kafkabus.Conn{Brokers: addrs, SASL: mech})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("round trip: %v", err)
			case !tc.ok && err == nil:
				t.Fatal("a wrong password was let in")
			case !tc.ok && time.Since(start) > 9*time.Second:
				t.Errorf("a refused login took %v (%v)", time.Since(start), err)
			case !tc.ok:
				t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		if err := roundTrip(kafkabus.Conn{Brokers: addrs}); err == nil {
			t.Fatal("a client without SASL was let in")
		} else if !strings.Contains(err.Error(), "SASL") {
			t.Logf("no SASL: %v", err)
		}
	})
}

func TestNewSASLErrors(t *testing.T) {
	if _, err := kafkabus.NewSASL("gssapi", "u", "p"); err == nil || !strings.Contains(err.Error(), "scram-sha-512") {
		t.Errorf("unknown mechanism: %v", err)
	}
	if _, err := kafkabus.NewSASL("plain", "", "p"); err == nil || !strings.Contains(err.Error(), "user") {
		t.Errorf("no user: %v", err)
	}
}

// TestTLS: a broker that serves TLS is reached with the CA that signed its
// certificate; not without it, not over plain TCP, and not without a
// client certificate when it asks for one.
func TestTLS(t *testing.T) {
	pki := testpki.New(t, t.TempDir())
	withCA := &tls.Config{RootCAs: pki.CAs, MinVersion: tls.VersionTLS12}
	withCert := withCA.Clone()
	withCert.Certificates = []tls.Certificate{pki.Client}

	t.Run("server", func(t *testing.T) {
		addrs := secureCluster(t, kfake.TLS(pki.ServerTLS(false)))
		if err := roundTrip(kafkabus.Conn{Brokers: addrs, TLS: withCA}); err != nil {
			t.Fatalf("with the CA: %v", err)
		}
		named := withCA.Clone()
		named.ServerName = pki.ServerName
		if err := roundTrip(kafkabus.Conn{Brokers: addrs, TLS: named}); err != nil {
			t.Fatalf("with the CA and a server name: %v", err)
		}
		named.ServerName = "other.test"
		if err := roundTrip(kafkabus.Conn{Brokers: addrs, TLS: named}); err == nil {
			t.Fatal("a certificate for another name was accepted")
		}
		if err := roundTrip(kafkabus.Conn{Brokers: addrs, TLS: &tls.Config{}}); err == nil {
			t.Fatal("the system roots accepted a certificate of the test CA")
		} else if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("without the CA: %v", err)
		}
		if err := roundTrip(kafkabus.Conn{Brokers: addrs, TLS: &tls.Config{InsecureSkipVerify: true}}); err != nil {
			t.Fatalf("without verification: %v", err)
		}
		if err := roundTrip(kafkabus.Conn{Brokers: addrs}); err == nil {
			t.Fatal("plain TCP to a TLS broker worked")
		}
	})
	t.Run("client-certificate", func(t *testing.T) {
		addrs := secureCluster(t, kfake.TLS(pki.ServerTLS(true)))
		if err := roundTrip(kafkabus.Conn{Brokers: addrs, TLS: withCert}); err != nil {
			t.Fatalf("with a client certificate: %v", err)
		}
		if err := roundTrip(kafkabus.Conn{Brokers: addrs, TLS: withCA}); err == nil {
			t.Fatal("a client without a certificate was let in")
		}
	})
	t.Run("and-SASL", func(t *testing.T) {
		addrs := secureCluster(t, kfake.TLS(pki.ServerTLS(false)), kfake.EnableSASL(),
			kfake.Superuser("SCRAM-SHA-512", "chatbus", "pw"))
		mech, _ := kafkabus.NewSASL("scram-sha-512", "chatbus", "pw")
		if err := roundTrip(kafkabus.Conn{Brokers: addrs, TLS: withCA, SASL: mech}); err != nil {
			t.Fatalf("TLS and SASL: %v", err)
		}
	})
}
