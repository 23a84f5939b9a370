// Package kafkacluster runs Apache Kafka — the real broker, from the jars
// that kafka/pom.xml names — as a KRaft cluster of N brokers on free
// loopback ports, for tests and for `make kafka-up`. Each broker is a java
// process of its own (`kafka.Kafka server.properties`) in its own process
// group, with its own directory (configuration, data, log); the first three
// are also the controllers (the KRaft quorum), the others brokers only.
//
// A test starts one with ForTest (or shares one per test binary with
// Shared), kills and restarts brokers by id with Kill and Restart (same
// ports, same data), finds a partition's leader with Leader, and waits for
// replicas to catch up with WaitInSync. Processes started without Detach
// die with the process that started them, even when it is killed.
package kafkacluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config says how many brokers to run and where.
type Config struct {
	// Brokers is the number of brokers (default 3). Brokers 1 to 3 are
	// also controllers.
	Brokers int
	// Dir holds one directory per broker (node-ID: server.properties,
	// log4j2.properties, data/, server.log, stdout.log) and cluster.json.
	// A Dir with a cluster.json of a stopped cluster is started again with
	// its ports and data.
	Dir string
	// Lib is the directory of Kafka's jars; empty: Jars resolves them.
	Lib string
	// Heap is the JVM's memory flags (default "-Xms128m -Xmx512m").
	Heap string
	// Props are server properties for every broker, over the defaults
	// (see Defaults).
	Props map[string]string
	// Detach lets the brokers outlive the process that starts them (for
	// `kafkacluster up`); otherwise they get SIGKILL when it exits.
	Detach bool
	// StartTimeout bounds the wait for the brokers (default 2 minutes).
	StartTimeout time.Duration
}

// Cluster is a running Apache Kafka cluster.
type Cluster struct {
	cfg   Config
	id    string // the KRaft cluster id
	nodes []*node
	mu    sync.Mutex
}

type node struct {
	ID             int32
	Port           int
	ControllerPort int
	PID            int
	dir            string
	controller     bool
	cmd            *exec.Cmd
	done           chan struct{}
}

// state is cluster.json: what `kafkacluster down` and a second Start need.
type state struct {
	ClusterID string  `json:"clusterId"`
	Bootstrap string  `json:"bootstrap"`
	Nodes     []*node `json:"nodes"`
}

// Defaults returns the server properties of a test cluster of n brokers
// (before Config.Props): replication 3 (or n) with 2 in sync for every
// internal topic, no initial rebalance delay, KIP-848 groups' sessions of
// 10 s (45 s by default), few threads, and a broker
// fenced 6 s after its last heartbeat (9 s by default), so that a killed
// leader's partitions move sooner.
func Defaults(n int) map[string]string {
	rf, isr := strconv.Itoa(min(n, 3)), strconv.Itoa(min(n, 2))
	return map[string]string{
		"auto.create.topics.enable":                        "false",
		"default.replication.factor":                       rf,
		"min.insync.replicas":                              isr,
		"offsets.topic.replication.factor":                 rf,
		"offsets.topic.num.partitions":                     "10",
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    isr,
		"transaction.state.log.num.partitions":             "5",
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            isr,
		"group.initial.rebalance.delay.ms":                 "0",
		"num.network.threads":                              "2",
		"num.io.threads":                                   "2",
		"background.threads":                               "2",
		"num.recovery.threads.per.data.dir":                "1",
		"num.replica.fetchers":                             "1",
		"log.cleaner.threads":                              "1",
		// KIP-848 groups (group.protocol=consumer) take their session
		// timeout from the brokers, 45 s by default and at least
		// group.consumer.min.session.timeout.ms: 10 s, as chatbus's
		// classic groups ask for themselves.
		"group.consumer.min.session.timeout.ms":    "6000",
		"group.consumer.session.timeout.ms":        "10000",
		"group.consumer.min.heartbeat.interval.ms": "1000",
		"group.consumer.heartbeat.interval.ms":     "2000",
		"broker.heartbeat.interval.ms":             "1000",
		"broker.session.timeout.ms":                "6000",
	}
}

// Start formats each broker's storage (when new), starts the brokers and
// waits until every one is in the cluster's metadata.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Brokers < 1 {
		cfg.Brokers = 3
	}
	if cfg.Heap == "" {
		cfg.Heap = "-Xms128m -Xmx512m"
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 2 * time.Minute
	}
	if cfg.Dir == "" {
		return nil, errors.New("kafkacluster: Config.Dir is needed")
	}
	if cfg.Lib == "" {
		lib, err := Jars(ctx, nil)
		if err != nil {
			return nil, err
		}
		cfg.Lib = lib
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("%w: java is not on PATH", ErrNoJava)
	}
	c := &Cluster{cfg: cfg}
	if err := c.layout(); err != nil {
		return nil, err
	}
	// Format in parallel: each is a JVM start (~2 s).
	errs := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		go func() { errs <- c.format(ctx, n) }()
	}
	var ferr error
	for range c.nodes {
		ferr = errors.Join(ferr, <-errs)
	}
	if ferr != nil {
		return nil, ferr
	}
	for _, n := range c.nodes {
		if err := c.run(n); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.save(); err != nil {
		c.Stop()
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// layout picks the ports (or takes them from a previous run's cluster.json)
// and writes each broker's configuration.
func (c *Cluster) layout() error {
	if err := os.MkdirAll(c.cfg.Dir, 0o755); err != nil {
		return err
	}
	var old state
	if b, err := os.ReadFile(filepath.Join(c.cfg.Dir, "cluster.json")); err == nil {
		if err := json.Unmarshal(b, &old); err != nil {
			return fmt.Errorf("kafkacluster: %s/cluster.json: %w", c.cfg.Dir, err)
		}
		for _, n := range old.Nodes {
			if alive(n.PID, c.cfg.Dir) {
				return fmt.Errorf("kafkacluster: a cluster already runs in %s (broker %d, pid %d); stop it first", c.cfg.Dir, n.ID, n.PID)
			}
		}
		c.cfg.Brokers = len(old.Nodes)
		c.id = old.ClusterID
		c.nodes = old.Nodes
	} else {
		ports, err := freePorts(2 * c.cfg.Brokers)
		if err != nil {
			return err
		}
		c.id = newClusterID()
		for i := range c.cfg.Brokers {
			c.nodes = append(c.nodes, &node{ID: int32(i + 1), Port: ports[2*i], ControllerPort: ports[2*i+1]})
		}
	}
	var voters []string
	for i, n := range c.nodes {
		n.controller = i < 3
		n.dir = filepath.Join(c.cfg.Dir, fmt.Sprintf("node-%d", n.ID))
		if n.controller {
			voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", n.ID, n.ControllerPort))
		}
	}
	for _, n := range c.nodes {
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return err
		}
		props := Defaults(len(c.nodes))
		for k, v := range c.cfg.Props {
			props[k] = v
		}
		props["node.id"] = strconv.Itoa(int(n.ID))
		props["controller.quorum.voters"] = strings.Join(voters, ",")
		props["controller.listener.names"] = "CONTROLLER"
		props["inter.broker.listener.name"] = "PLAINTEXT"
		props["listener.security.protocol.map"] = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
		props["advertised.listeners"] = fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.Port)
		props["log.dirs"] = filepath.Join(n.dir, "data")
		if n.controller {
			props["process.roles"] = "broker,controller"
			props["listeners"] = fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.Port, n.ControllerPort)
		} else {
			props["process.roles"] = "broker"
			props["listeners"] = fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.Port)
		}
		var b strings.Builder
		for _, k := range slices.Sorted(mapKeys(props)) {
			fmt.Fprintf(&b, "%s=%s\n", k, props[k])
		}
		if err := os.WriteFile(filepath.Join(n.dir, "server.properties"), []byte(b.String()), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(n.dir, "log4j2.properties"), []byte(log4j(filepath.Join(n.dir, "server.log"))), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// log4j is a log4j2 configuration that writes everything at INFO and above
// to file (the console would be the test's output).
func log4j(file string) string {
	return `status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ` + file + `
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
`
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Command is a java command line of class from Kafka's jars in lib (a
// broker, the storage tool, the console producer and consumer, …), with a
// small heap and log4j's own configuration (warnings to the console).
func Command(ctx context.Context, lib, class string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "java", append([]string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", filepath.Join(lib, "*"), class}, args...)...)
}

// format formats a broker's storage unless it was already.
func (c *Cluster) format(ctx context.Context, n *node) error {
	if _, err := os.Stat(filepath.Join(n.dir, "data", "meta.properties")); err == nil {
		return nil
	}
	cmd := Command(ctx, c.cfg.Lib, "kafka.tools.StorageTool", "format", "--cluster-id", c.id,
		"--config", filepath.Join(n.dir, "server.properties"))
	cmd.Args = slices.Insert(cmd.Args, 1, "-Dlog4j2.configurationFile="+filepath.Join(n.dir, "log4j2.properties"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kafkacluster: formatting broker %d's storage: %w\n%s", n.ID, err, out)
	}
	return nil
}

// run starts a broker's process.
func (c *Cluster) run(n *node) error {
	out, err := os.OpenFile(filepath.Join(n.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	args := append(strings.Fields(c.cfg.Heap),
		// Two cores shared by several JVMs and the tests: the serial
		// collector and the client compiler only.
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile="+filepath.Join(n.dir, "log4j2.properties"),
		"-Dkafka.logs.dir="+n.dir,
		// The data directory names the process, so that down can tell
		// it from a process that reused its pid.
		"-Dchatbus.kafkacluster="+c.cfg.Dir,
		"-cp", filepath.Join(c.cfg.Lib, "*"), "kafka.Kafka", filepath.Join(n.dir, "server.properties"))
	cmd := exec.Command("java", args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !c.cfg.Detach {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kafkacluster: starting broker %d: %w", n.ID, err)
	}
	n.cmd, n.PID, n.done = cmd, cmd.Process.Pid, make(chan struct{})
	done := n.done
	go func() { cmd.Wait(); close(done) }()
	return nil
}

func (c *Cluster) save() error {
	b, _ := json.MarshalIndent(state{ClusterID: c.id, Bootstrap: c.Bootstrap(), Nodes: c.nodes}, "", "  ")
	return os.WriteFile(filepath.Join(c.cfg.Dir, "cluster.json"), append(b, '\n'), 0o644)
}

// Bootstrap is every broker's address, comma separated (for --brokers).
func (c *Cluster) Bootstrap() string { return strings.Join(c.Addrs(), ",") }

// Addrs is every broker's address, by id.
func (c *Cluster) Addrs() []string {
	var a []string
	for _, n := range c.nodes {
		a = append(a, fmt.Sprintf("127.0.0.1:%d", n.Port))
	}
	return a
}

// IDs is the brokers' ids, 1 to N.
func (c *Cluster) IDs() []int32 {
	var ids []int32
	for _, n := range c.nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// Dir is the cluster's directory; LogFile is a broker's log in it.
func (c *Cluster) Dir() string { return c.cfg.Dir }

// Lib is the directory of Kafka's jars the cluster runs.
func (c *Cluster) Lib() string { return c.cfg.Lib }

// LogFile is the path of broker id's log.
func (c *Cluster) LogFile(id int32) string {
	return filepath.Join(c.cfg.Dir, fmt.Sprintf("node-%d", id), "server.log")
}

func (c *Cluster) node(id int32) (*node, error) {
	for _, n := range c.nodes {
		if n.ID == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("kafkacluster: no broker %d (brokers are 1 to %d)", id, len(c.nodes))
}

// running reports whether n's process runs (it was started here and has
// not exited).
func (n *node) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Running returns the ids of the brokers whose processes run.
func (c *Cluster) Running() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []int32
	for _, n := range c.nodes {
		if n.running() {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

// Kill sends SIGKILL to broker id's process group and waits for its exit.
func (c *Cluster) Kill(id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(id)
	if err != nil {
		return err
	}
	return n.kill()
}

func (n *node) kill() error {
	if !n.running() {
		return nil
	}
	syscall.Kill(-n.PID, syscall.SIGKILL)
	select {
	case <-n.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("kafkacluster: broker %d (pid %d) did not exit after SIGKILL", n.ID, n.PID)
	}
}

// Restart starts broker id again (after Kill), on its ports and data, and
// waits until it is back in the cluster's metadata.
func (c *Cluster) Restart(ctx context.Context, id int32) error {
	c.mu.Lock()
	n, err := c.node(id)
	if err == nil && n.running() {
		err = fmt.Errorf("kafkacluster: broker %d runs already", id)
	}
	if err == nil {
		err = c.run(n)
	}
	if err == nil {
		err = c.save()
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.WaitReady(ctx)
}

// Stop kills every broker (SIGKILL: the data is a test's) and waits for
// them. It may be called more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for _, n := range c.nodes {
		if n.running() {
			syscall.Kill(-n.PID, syscall.SIGKILL)
		}
	}
	for _, n := range c.nodes {
		err = errors.Join(err, n.kill())
	}
	return err
}

// Admin returns an admin client of the cluster, closed by the caller
// (Close on its kgo client: adm.Close()).
func (c *Cluster) Admin(opts ...kgo.Opt) (*kadm.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)...)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// WaitReady waits until the metadata shows every running broker, and no
// other. A broker that exits meanwhile fails it, with the end of its log.
func (c *Cluster) WaitReady(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	var last error
	for {
		want := c.Running()
		if len(want) < len(c.nodes) {
			// A broker that died on its own (not by Kill) is a failure.
			for _, n := range c.nodes {
				if n.done != nil && !n.running() && n.cmd.ProcessState != nil && !killed(n.cmd.ProcessState) {
					return fmt.Errorf("kafkacluster: broker %d exited (%v); the end of %s:\n%s", n.ID, n.cmd.ProcessState, c.LogFile(n.ID), tail(c.LogFile(n.ID), 30))
				}
			}
		}
		mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := metadata(mctx, cl, nil)
		cancel()
		if err == nil {
			var got []int32
			for _, b := range m.Brokers {
				got = append(got, b.NodeID)
			}
			slices.Sort(got)
			if slices.Equal(got, want) {
				return nil
			}
			last = fmt.Errorf("the metadata shows brokers %v, want %v", got, want)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkacluster: the cluster at %s was not ready: %v (%w)", c.Bootstrap(), last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func killed(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// metadata asks a broker for the metadata of topics (nil: all) — not
// kadm's, which answers from kgo's cache of up to 5 s (MetadataMinAge), and
// for brokers alone from a cache that did not see a broker come back.
func metadata(ctx context.Context, cl *kgo.Client, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	}
	return req.RequestWith(ctx, cl)
}

// Leader returns the id of the broker that leads a partition of topic, as
// the metadata says now (-1 while it has none).
func (c *Cluster) Leader(ctx context.Context, topic string, partition int32) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	m, err := metadata(ctx, cl, []string{topic})
	if err != nil {
		return 0, err
	}
	for _, t := range m.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, fmt.Errorf("kafkacluster: topic %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return p.Leader, kerr.ErrorForCode(p.ErrorCode)
			}
		}
	}
	return 0, fmt.Errorf("kafkacluster: topic %s has no partition %d", topic, partition)
}

// WaitInSync waits until every partition of every topic (internal ones
// too) has all its replicas in sync, as after a broker's restart before
// another may be killed.
func (c *Cluster) WaitInSync(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	var behind []string
	for {
		m, err := metadata(ctx, cl, nil)
		if err == nil {
			behind = behind[:0]
			for _, t := range m.Topics {
				for _, p := range t.Partitions {
					if len(p.ISR) < len(p.Replicas) || p.Leader < 0 {
						behind = append(behind, fmt.Sprintf("%s/%d (isr %v of %v)", *t.Topic, p.Partition, p.ISR, p.Replicas))
					}
				}
			}
			if len(behind) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkacluster: replicas not in sync: %s (%w)", strings.Join(behind, ", "), ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Down stops the cluster that a detached Start left running in dir: SIGTERM
// to each broker (a controlled shutdown), SIGKILL after timeout. Brokers
// already gone are skipped; it reports how many it stopped.
func Down(dir string, timeout time.Duration) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		return 0, fmt.Errorf("kafkacluster: no cluster in %s: %w", dir, err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, err
	}
	var live []*node
	for _, n := range s.Nodes {
		if alive(n.PID, dir) {
			syscall.Kill(-n.PID, syscall.SIGTERM)
			live = append(live, n)
		}
	}
	deadline := time.Now().Add(timeout)
	for _, n := range live {
		for alive(n.PID, dir) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(n.PID, dir) {
			syscall.Kill(-n.PID, syscall.SIGKILL)
		}
	}
	for _, n := range live {
		for i := 0; alive(n.PID, dir) && i < 100; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(n.PID, dir) {
			err = errors.Join(err, fmt.Errorf("kafkacluster: broker %d (pid %d) is still running", n.ID, n.PID))
		}
	}
	return len(live), err
}

// alive reports whether pid is a broker of the cluster in dir (its command
// line names dir), not a process that took a dead broker's pid.
func alive(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// A zombie (exited, not yet reaped) is not running.
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
			return false
		}
	}
	return strings.Contains(string(b), "-Dchatbus.kafkacluster="+dir+"\x00")
}

// freePorts returns n distinct free loopback ports, held open together
// while they are picked so that none is given twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newClusterID is a random KRaft cluster id (a UUID in URL-safe base64),
// not starting with '-', which the storage tool would take for an option
// (Kafka's own Uuid.randomUuid avoids it too).
func newClusterID() string {
	for {
		b := make([]byte, 16)
		rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
