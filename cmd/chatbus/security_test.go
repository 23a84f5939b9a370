package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/internal/testpki"
	"github.com/chatbus/chatbus/kafkabus"
)

// chatbusCmd runs the program (the test binary as chatbus) to its end and
// returns what it printed and its exit code.
func chatbusCmd(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "CHATBUS_TEST_AS_MAIN=1"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("chatbus %s did not end within 60 s:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestKafkaSecurityFlags: the flags become a TLS configuration and a SASL
// mechanism; each mistake is an error naming the flag.
func TestKafkaSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	pki := testpki.New(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	f := kafkaFlags{Brokers: []string{"k1:9093", "k2:9093"}, ClientID: "cb", kafkaSecurityFlags: kafkaSecurityFlags{
		KafkaCA: pki.CAFile, KafkaCert: pki.CertFile, KafkaKey: pki.KeyFile, KafkaTLSServerName: "kafka.internal",
		KafkaSASL: "SCRAM-SHA-512", KafkaUser: "chatbus", KafkaPassword: "pw-never-logged", KafkaTLSInsecure: true}}
	conn, err := f.conn(log)
	if err != nil {
		t.Fatal(err)
	}
	if conn.TLS == nil || conn.TLS.RootCAs == nil || len(conn.TLS.Certificates) != 1 || conn.TLS.ServerName != "kafka.internal" ||
		!conn.TLS.InsecureSkipVerify || conn.TLS.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLS config: %+v", conn.TLS)
	}
	if conn.SASL == nil || conn.SASL.Name() != "SCRAM-SHA-512" || len(conn.Brokers) != 2 || conn.ClientID != "cb" {
		t.Errorf("conn: %+v", conn)
	}
	if !strings.Contains(logs.String(), "kafka-tls-insecure") || strings.Contains(logs.String(), "pw-never-logged") {
		t.Errorf("logs:\n%s", logs.String())
	}
	if conn, _ := (kafkaFlags{kafkaSecurityFlags: kafkaSecurityFlags{KafkaTLS: true}}).conn(nil); conn.TLS == nil || conn.TLS.RootCAs != nil {
		t.Errorf("--kafka-tls alone: system roots, got %+v", conn.TLS)
	}
	if conn, _ := (kafkaFlags{}).conn(nil); conn.TLS != nil || conn.SASL != nil {
		t.Errorf("no flags: plain TCP, got %+v", conn)
	}

	for _, tc := range []struct {
		f    kafkaSecurityFlags
		want string
	}{
		{kafkaSecurityFlags{KafkaCA: filepath.Join(dir, "none.pem")}, "--kafka-ca"},
		{kafkaSecurityFlags{KafkaCA: notPEM}, "no PEM certificate"},
		{kafkaSecurityFlags{KafkaCert: pki.CertFile}, "--kafka-cert needs --kafka-key"},
		{kafkaSecurityFlags{KafkaKey: pki.KeyFile}, "--kafka-key needs --kafka-cert"},
		{kafkaSecurityFlags{KafkaCert: pki.CertFile, KafkaKey: notPEM}, "--kafka-key"},
		{kafkaSecurityFlags{KafkaSASL: "gssapi", KafkaUser: "u"}, "unknown SASL mechanism"},
		{kafkaSecurityFlags{KafkaSASL: "plain"}, "--kafka-sasl plain needs --kafka-user"},
		{kafkaSecurityFlags{KafkaUser: "u", KafkaPassword: "p"}, "need --kafka-sasl"},
	} {
		if _, err := (kafkaFlags{kafkaSecurityFlags: tc.f}).conn(nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.f, err, tc.want)
		}
	}
}

// TestRunOverTLSAndSASL: chatbus run against a cluster that serves TLS with
// its own CA and wants SCRAM-SHA-512 serves requests; the password, given by
// the environment, is in no log. A wrong password, a missing CA or missing
// SASL end the program at once with a hint at the flag to fix.
func TestRunOverTLSAndSASL(t *testing.T) {
	dir := t.TempDir()
	pki := testpki.New(t, dir)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(pki.ServerTLS(true)), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "chatbus", "pw-of-kafka"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	flags := []string{"--brokers", addr, "--kafka-ca", pki.CAFile, "--kafka-cert", pki.CertFile, "--kafka-key", pki.KeyFile,
		"--kafka-sasl", "scram-sha-512", "--kafka-user", "chatbus"}

	p := startCmd(t, []string{"CHATBUS_KAFKA_PASSWORD=pw-of-kafka", "CHATBUS_DATA_DIR=" + filepath.Join(dir, "data")},
		[]string{"backend serving", "web gateway listening"}, append([]string{"run", "--http-addr", "127.0.0.1:0"}, flags...)...)
	mech, _ := kafkabus.NewSASL("scram-sha-512", "chatbus", "pw-of-kafka")
	client, err := kafkabus.NewClient(kafkabus.ClientConfig{Timeout: 10 * time.Second, Conn: kafkabus.Conn{Brokers: []string{addr}, Keys: p.keys(t),
		TLS: &tls.Config{RootCAs: pki.CAs, Certificates: []tls.Certificate{pki.Client}}, SASL: mech}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.SignUp(context.Background(), chatbus.SignUp{UserID: "alice", Password: "pw-of-alice", Email: "a@example.com", Name: "Alice"}); err != nil {
		t.Fatalf("sign-up over TLS and SASL: %v\n%s", err, p.logs())
	}
	if _, err := client.LogIn(context.Background(), "alice", "pw-of-alice"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.logs(), "pw-of-kafka") {
		t.Errorf("the logs hold the Kafka password:\n%s", p.logs())
	}

	for _, tc := range []struct {
		name, password string
		flags          []string
		hint           string
	}{
		{"wrong password", "wrong", flags, "--kafka-password"},
		{"no CA", "pw-of-kafka", []string{"--brokers", addr, "--kafka-tls", "--kafka-cert", pki.CertFile, "--kafka-key", pki.KeyFile,
			"--kafka-sasl", "scram-sha-512", "--kafka-user", "chatbus"}, "--kafka-ca"},
		{"no client certificate", "pw-of-kafka", []string{"--brokers", addr, "--kafka-ca", pki.CAFile,
			"--kafka-sasl", "scram-sha-512", "--kafka-user", "chatbus"}, "--kafka-cert"},
		{"no TLS", "pw-of-kafka", []string{"--brokers", addr, "--kafka-sasl", "scram-sha-512", "--kafka-user", "chatbus"}, "--kafka-tls"},
		{"no SASL", "", []string{"--brokers", addr, "--kafka-ca", pki.CAFile, "--kafka-cert", pki.CertFile, "--kafka-key", pki.KeyFile}, "--kafka-sasl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, stderr, code := chatbusCmd(t, []string{"CHATBUS_KAFKA_PASSWORD=" + tc.password, "CHATBUS_DATA_DIR=" + t.TempDir(), busSecret(t)},
				append([]string{"backend"}, tc.flags...)...)
			took := time.Since(start)
			last := stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:]
			if code == 0 || !strings.Contains(last, tc.hint) {
				t.Errorf("exit %d; the last line lacks %q:\n%s", code, tc.hint, stderr)
			}
			if took > 35*time.Second {
				t.Errorf("took %v", took)
			}
			t.Logf("after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(last))
		})
	}
}

// TestSecurityNeedsBrokers: the embedded broker serves plain TCP, so the
// TLS and SASL flags without --brokers are a mistake, said at once.
func TestSecurityNeedsBrokers(t *testing.T) {
	_, stderr, code := chatbusCmd(t, []string{"CHATBUS_DATA_DIR=" + t.TempDir()}, "run", "--kafka-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--kafka-tls")
	if code == 0 || !strings.Contains(stderr, "--brokers") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
}
