package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chatbus/chatbus/kafkabus"
)

// busSecret writes a bus secret file for a test's backends and frontends
// and returns the environment that names it.
func busSecret(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bus.secret")
	if err := os.WriteFile(path, []byte(kafkabus.NewSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	return "CHATBUS_BUS_SECRET_FILE=" + path
}

// keys reads the bus secret of a chatbus run process: the one it was
// given, else the one it made in its data directory.
func (p *proc) keys(t *testing.T) *kafkabus.Keys {
	t.Helper()
	dir := ""
	for _, e := range p.env {
		if strings.HasPrefix(e, "CHATBUS_BUS_SECRET_FILE=") {
			return keysOf(t, e)
		}
		if d, ok := strings.CutPrefix(e, "CHATBUS_DATA_DIR="); ok {
			dir = d
		}
	}
	for i, a := range p.args {
		if a == "--data-dir" && i+1 < len(p.args) {
			dir = p.args[i+1]
		}
	}
	return keysOf(t, filepath.Join(dir, secretFileName))
}

// keysOf reads the bus secret a process was given, or made.
func keysOf(t *testing.T, path string) *kafkabus.Keys {
	t.Helper()
	path = strings.TrimPrefix(path, "CHATBUS_BUS_SECRET_FILE=")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kafkabus.ParseKeys(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestBusSecret: chatbus run makes its bus secret, readable by its owner
// only, and uses it again when restarted; backend and frontend without one
// refuse to start, saying which flag is missing; a short one is refused.
// (And the sessions topic it makes keeps records a day past --session-max.)
func TestBusSecret(t *testing.T) {
	dir := t.TempDir()
	p := startCmd(t, []string{"CHATBUS_DATA_DIR=" + dir}, []string{"backend serving", "web gateway listening"},
		"run", "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--session-max", "48h")
	p.mu.Lock()
	adm := clusterAdmin(t, p.kafka)
	p.mu.Unlock()
	cfgs, err := adm.DescribeTopicConfigs(context.Background(), "sessions")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			got[c.Key] = c.MaybeValue()
		}
	}
	if got["retention.ms"] != "259200000" || got["cleanup.policy"] != "compact,delete" {
		t.Errorf("sessions: retention.ms %q, cleanup.policy %q; want 72h (259200000) and compact,delete", got["retention.ms"], got["cleanup.policy"])
	}
	p.stop(t, syscall.SIGTERM)
	path := filepath.Join(dir, "bus.secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the bus secret's mode is %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	keysOf(t, path)
	p = startCmd(t, []string{"CHATBUS_DATA_DIR=" + dir}, []string{"backend serving", "web gateway listening"},
		"run", "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	p.stop(t, syscall.SIGTERM)
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Error("a restarted chatbus run made another bus secret")
	}
	for _, sub := range []string{"backend", "frontend"} {
		_, stderr, code := chatbusCmd(t, []string{"CHATBUS_DATA_DIR=" + t.TempDir()}, sub, "--brokers", "127.0.0.1:1", "--http-addr", "127.0.0.1:0")
		if sub == "backend" {
			_, stderr, code = chatbusCmd(t, []string{"CHATBUS_DATA_DIR=" + t.TempDir()}, sub, "--brokers", "127.0.0.1:1")
		}
		if code == 0 || !strings.Contains(stderr, "--bus-secret-file") {
			t.Errorf("%s without a bus secret: exit %d:\n%s", sub, code, stderr)
		}
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("abcd\n"), 0o600)
	_, stderr, code := chatbusCmd(t, []string{"CHATBUS_BUS_SECRET_FILE=" + short}, "frontend", "--brokers", "127.0.0.1:1", "--http-addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "fewer than 32") {
		t.Errorf("frontend with a 2-byte secret: exit %d:\n%s", code, stderr)
	}
}
