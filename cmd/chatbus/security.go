package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/chatbus/chatbus/kafkabus"
)

// set tells whether any of the flags is given.
func (f kafkaSecurityFlags) set() bool {
	return f.tls() || f.KafkaSASL != "" || f.KafkaUser != "" || f.KafkaPassword != ""
}

func (f kafkaSecurityFlags) tls() bool {
	return f.KafkaTLS || f.KafkaCA != "" || f.KafkaCert != "" || f.KafkaKey != "" ||
		f.KafkaTLSServerName != "" || f.KafkaTLSInsecure
}

// conn returns how to reach the cluster: brokers, client id and, when the
// flags ask for them, TLS (its files read now) and SASL. The password is
// never logged.
func (f kafkaFlags) conn(log *slog.Logger) (kafkabus.Conn, error) {
	c := kafkabus.Conn{Brokers: f.Brokers, ClientID: f.ClientID, Logger: log}
	var err error
	if c.TLS, err = f.tlsConfig(); err != nil {
		return c, err
	}
	if c.SASL, err = f.sasl(); err != nil {
		return c, err
	}
	if log != nil {
		if f.KafkaTLSInsecure {
			log.Warn("--kafka-tls-insecure: the brokers' certificates are not checked; anyone on the way can read and change the traffic")
		}
		if strings.EqualFold(f.KafkaSASL, "plain") && c.TLS == nil {
			log.Warn("SASL PLAIN without TLS sends the password in clear text; add --kafka-tls")
		}
	}
	return c, nil
}

func (f kafkaSecurityFlags) tlsConfig() (*tls.Config, error) {
	if !f.tls() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.KafkaTLSServerName, InsecureSkipVerify: f.KafkaTLSInsecure}
	if f.KafkaCA != "" {
		pem, err := os.ReadFile(f.KafkaCA)
		if err != nil {
			return nil, fmt.Errorf("--kafka-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kafka-ca %s: no PEM certificate in it", f.KafkaCA)
		}
	}
	switch {
	case f.KafkaCert != "" && f.KafkaKey != "":
		cert, err := tls.LoadX509KeyPair(f.KafkaCert, f.KafkaKey)
		if err != nil {
			return nil, fmt.Errorf("--kafka-cert %s, --kafka-key %s: %w", f.KafkaCert, f.KafkaKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case f.KafkaCert != "":
		return nil, errors.New("--kafka-cert needs --kafka-key (the client certificate's private key)")
	case f.KafkaKey != "":
		return nil, errors.New("--kafka-key needs --kafka-cert (the client certificate)")
	}
	return cfg, nil
}

func (f kafkaSecurityFlags) sasl() (sasl.Mechanism, error) {
	if f.KafkaSASL == "" {
		if f.KafkaUser != "" || f.KafkaPassword != "" {
			return nil, errors.New("--kafka-user and --kafka-password need --kafka-sasl (plain, scram-sha-256 or scram-sha-512)")
		}
		return nil, nil
	}
	if f.KafkaUser == "" {
		return nil, fmt.Errorf("--kafka-sasl %s needs --kafka-user", f.KafkaSASL)
	}
	m, err := kafkabus.NewSASL(f.KafkaSASL, f.KafkaUser, f.KafkaPassword)
	if err != nil {
		return nil, fmt.Errorf("--kafka-sasl: %w", err)
	}
	return m, nil
}

// explainKafka adds to a failure to reach the cluster what is most likely
// wrong in the flags: kgo's errors name the symptom, not the flag.
func (f kafkaSecurityFlags) explainKafka(err error) error {
	if err == nil {
		return nil
	}
	var unknownCA x509.UnknownAuthorityError
	var badName x509.HostnameError
	var firstEOF *kgo.ErrFirstReadEOF
	closed := errors.As(err, &firstEOF) || errors.Is(err, io.EOF)
	msg := err.Error()
	var hint string
	switch {
	case errors.As(err, &unknownCA):
		hint = "the brokers' certificate is not signed by a CA this machine trusts: give their CA with --kafka-ca"
	case errors.As(err, &badName):
		hint = "the brokers' certificate is for another name: give that name with --kafka-tls-server-name"
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate") || strings.Contains(msg, "unknown certificate"):
		hint = "the brokers want a client certificate they trust: give --kafka-cert and --kafka-key"
	case !f.tls() && closed && strings.Contains(msg, "requires TLS"):
		hint = "the brokers seem to want TLS: give --kafka-tls (and --kafka-ca when their CA is not the system's)"
	case f.KafkaSASL == "" && closed:
		hint = "the brokers closed the connection: do they want SASL (--kafka-sasl, --kafka-user, --kafka-password)"
		if !f.tls() {
			hint += " or TLS (--kafka-tls)"
		}
		hint += "?"
	case f.KafkaSASL != "" && (closed || strings.Contains(msg, "SASL_AUTHENTICATION_FAILED")):
		hint = fmt.Sprintf("the brokers refused the login: are --kafka-sasl %s, --kafka-user %q and --kafka-password right?",
			strings.ToLower(f.KafkaSASL), f.KafkaUser)
	case errors.Is(err, kerr.InvalidReplicationFactor):
		hint = "fewer brokers are up than the replication factor: start the missing ones, or give a lower --replication"
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded):
		hint = "no broker answered: is the cluster up, and are --brokers right?"
	case errors.Is(err, kerr.NotEnoughReplicas) || errors.Is(err, kerr.NotEnoughReplicasAfterAppend):
		hint = "fewer replicas are in sync than the topic's min.insync.replicas: brokers are down"
	default:
		return err
	}
	return fmt.Errorf("%w (%s)", err, hint)
}
