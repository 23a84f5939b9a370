package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/internal/kafkacluster"
	"github.com/chatbus/chatbus/kafkabus"
)

// TestMain lets the test binary be chatbus itself, so the tests can run the
// real program as a separate process and send it signals.
func TestMain(m *testing.M) {
	if os.Getenv("CHATBUS_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	kafkacluster.StopShared()
	os.Exit(code)
}

// needTool returns the path of a program the test needs; without it the
// test is skipped locally and fails in CI, which installs it (.ci/run).
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (%s)", name, install)
		}
		t.Skipf("%s is not installed (%s); .ci/run installs it", name, install)
	}
	return path
}

// proc is a `chatbus run` process.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	kafka  string
	web    string // the gateway's URL
	ready  chan struct{}
	exited chan struct{}
	// how it was started, for restart
	env, readyLines, args []string
}

var (
	brokerAddrs = regexp.MustCompile(`embedded broker listening" addrs=(\S+)`)
	webURL      = regexp.MustCompile(`web gateway listening" url=(\S+)`)
)

// startRun starts `chatbus run` on dir with free ports; settings come
// from the environment, as an operator may give them.
func startRun(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	return startCmd(t, []string{"CHATBUS_DATA_DIR=" + dir},
		[]string{"embedded broker listening", "backend serving", "web gateway listening"},
		append([]string{"run", "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)...)
}

// startCmd starts chatbus with args and env, and waits for every line of
// ready to be logged.
func startCmd(t *testing.T, env, ready []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "CHATBUS_TEST_AS_MAIN=1", "CHATBUS_LOG_LEVEL=debug"), env...)
	stderr, _ := cmd.StderrPipe()
	p := &proc{cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{}), env: env, readyLines: ready, args: args}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		seen := map[string]bool{}
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			if m := brokerAddrs.FindStringSubmatch(line); m != nil {
				p.kafka = m[1]
			}
			if m := webURL.FindStringSubmatch(line); m != nil {
				p.web = m[1]
			}
			p.mu.Unlock()
			for _, r := range ready {
				if !seen[r] && strings.Contains(line, r) {
					seen[r] = true
					if len(seen) == len(ready) {
						close(p.ready)
					}
				}
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.exited })
	select {
	case <-p.ready:
	case <-p.exited:
		t.Fatalf("chatbus %s exited early:\n%s", args[0], p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("chatbus %s did not start:\n%s", args[0], p.logs())
	}
	return p
}

// restart starts the process again as it was started, once it has exited.
func (p *proc) restart(t *testing.T) *proc {
	t.Helper()
	return startCmd(t, p.env, p.readyLines, p.args...)
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) client(t *testing.T) *kafkabus.Client {
	t.Helper()
	p.mu.Lock()
	addr := p.kafka
	p.mu.Unlock()
	c, err := kafkabus.NewClient(kafkabus.ClientConfig{Conn: kafkabus.Conn{Brokers: []string{addr}, Keys: p.keys(t)}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// stop sends sig and waits for the exit; it returns the exit code.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("chatbus did not stop within 30s of %v:\n%s", sig, p.logs())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestRunStopsCleanlyAndKeepsData runs the real program: sign-up and login
// over Kafka, SIGTERM (clean exit, every step logged), a restart on the same
// data directory, the user still there; then SIGKILL under load, a restart,
// and every acknowledged chat stored once.
func TestRunStopsCleanlyAndKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	p := startRun(t, dir)
	c := p.client(t)
	if _, err := c.SignUp(ctx, chatbus.SignUp{UserID: "alice", Password: "pw-of-alice", Email: "a@example.com", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	c.SignUp(ctx, chatbus.SignUp{UserID: "bob", Password: "pw-of-bob", Email: "b@example.com", Name: "Bob"})
	c.AddFriends(ctx, "alice", []string{"bob"})
	room, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.logs())
	}
	logs := p.logs()
	for _, want := range []string{"backend stopped", "broker stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"pw-of-alice", "$argon2"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold %q", secret)
		}
	}

	p = startRun(t, dir)
	c = p.client(t)
	if _, err := c.LogIn(ctx, "alice", "pw-of-alice"); err != nil {
		t.Fatalf("login after restart: %v", err)
	}

	// Post chats until the process is killed mid-way.
	acked := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				_, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: room.ID, WriterID: "alice", Message: id, ClientMsgID: id})
				if err != nil {
					return // the process is gone
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	p.stop(t, syscall.SIGKILL)
	wg.Wait()

	p = startRun(t, dir)
	c = p.client(t)
	stored := map[string]int{}
	var last int64
	for {
		page, err := c.Messages(ctx, "bob", room.ID, chatbus.MessageFilter{Forward: true, After: last, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			stored[m.Message]++
			last = m.Seq
		}
	}
	if len(acked) == 0 {
		t.Fatal("no chat was acknowledged before the kill")
	}
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged chat %s is stored %d times", id, stored[id])
		}
	}
	t.Logf("%d chats acknowledged before SIGKILL, %d stored after restart", len(acked), len(stored))
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit code %d after SIGINT", code)
	}
}

// TestPortInUse: the second process on a taken Kafka port exits with a
// one-line error naming the port and the flag.
func TestPortInUse(t *testing.T) {
	p := startRun(t, t.TempDir())
	p.mu.Lock()
	addr := p.kafka
	p.mu.Unlock()
	cmd := exec.Command(os.Args[0], "run", "--kafka-addr", addr, "--http-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "CHATBUS_TEST_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	port := addr[strings.LastIndex(addr, ":")+1:]
	if err == nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 ||
		!strings.Contains(string(out), "port "+port+" is in use") || !strings.Contains(string(out), "--kafka-addr") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

// TestHelpListsEnvironment: every flag of every command shows its variable.
func TestHelpListsEnvironment(t *testing.T) {
	for sub, flag := range map[string]string{"run": "--data-dir", "broker": "--data-dir", "backend": "--kafka-password",
		"frontend": "--kafka-sasl", "bench": "--target", "topics list": "--kafka-ca", "topics create": "--replication",
		"topics check": "--partitions", "topics lag": "--group"} {
		cmd := exec.Command(os.Args[0], append(strings.Fields(sub), "--help")...)
		cmd.Env = append(os.Environ(), "CHATBUS_TEST_AS_MAIN=1")
		out, _ := cmd.CombinedOutput()
		for _, line := range regexp.MustCompile(`(?m)^\s+--([a-z-]+)`).FindAllStringSubmatch(string(out), -1) {
			if line[1] == "help" {
				continue
			}
			env := "$CHATBUS_" + strings.ToUpper(strings.ReplaceAll(line[1], "-", "_"))
			if !strings.Contains(string(out), env) {
				t.Errorf("chatbus %s --help: --%s has no %s", sub, line[1], env)
			}
		}
		if !strings.Contains(string(out), flag) {
			t.Errorf("chatbus %s --help lacks %s:\n%s", sub, flag, out)
		}
	}
}
