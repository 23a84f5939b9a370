package kafkacluster

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

// ForTest starts a cluster for the test (cfg.Dir defaults to a temporary
// directory) and stops it when the test ends. Where Java or Maven is
// missing it skips the test, with a message saying what to install — and
// fails it instead in CI (CI set), as it does whenever a cluster cannot
// start. On failure the end of every broker's log is in the test's log.
func ForTest(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	c, err := Start(context.Background(), cfg)
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.LogTails(t, 20)
		}
		c.Stop()
	})
	return c
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoJava) && os.Getenv("CI") == "" {
		t.Skipf("no Apache Kafka for this test: %v (install OpenJDK 17 and Maven; CI fails here)", err)
	}
	t.Fatalf("Apache Kafka did not start: %v", err)
}

// JarsForTest returns the directory of Kafka's jars (see Jars), for a test
// that runs Kafka's tools (Command) against some cluster; like ForTest, it
// skips where Java or Maven is missing, and fails in CI.
func JarsForTest(t testing.TB) string {
	t.Helper()
	lib, err := Jars(context.Background(), nil)
	if err != nil {
		unavailable(t, err)
	}
	return lib
}

// LogTails writes the last n lines of every broker's log to t's log.
func (c *Cluster) LogTails(t testing.TB, n int) {
	t.Helper()
	for _, id := range c.IDs() {
		t.Logf("the end of Kafka broker %d's log (%s):\n%s", id, c.LogFile(id), tail(c.LogFile(id), n))
	}
}

var shared struct {
	once sync.Once
	c    *Cluster
	dir  string
	err  error
}

// Shared returns the test binary's one 3-broker cluster, started on its
// first use, so that the tests of a package pay for one start (~10 s).
// Tests sharing it must keep apart by topic prefix and group, and leave
// every broker running (a test that kills one restarts it). The package's
// TestMain calls StopShared after m.Run; should it not get there, the
// brokers die with the test binary anyway.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "kafkacluster-")
		if shared.err == nil {
			shared.c, shared.err = Start(context.Background(), Config{Brokers: 3, Dir: shared.dir})
		}
	})
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	if err := shared.c.WaitReady(context.Background()); err != nil {
		t.Fatalf("the shared Kafka cluster: %v", err)
	}
	return shared.c
}

// StopShared stops the shared cluster, if one was started, and removes its
// directory.
func StopShared() {
	if shared.c != nil {
		shared.c.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}
