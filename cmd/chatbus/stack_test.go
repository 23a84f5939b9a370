package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatbus/chatbus/internal/kafkacluster"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/postgres/pgtest"
)

// TestDeployStack runs deploy/compose.yaml without Docker: every service as
// processes of this machine, started in the order of the file's depends_on
// and configured from the file itself. The Kafka nodes run Apache Kafka
// with the server properties their KAFKA_* variables make (as the
// apache/kafka image turns them into properties), PostgreSQL is the test
// server (a fresh schema), the backends and frontends are `chatbus backend`
// and `chatbus frontend` with the services' CHATBUS_* variables, and the
// proxy is Debian's nginx with deploy/nginx.conf. Only addresses change:
// each name:port one service gives another becomes a loopback address, in
// the variables and in nginx.conf. Then two users chat through nginx, one
// on each frontend, and one is sent the other's message on his event stream
// through nginx.
func TestDeployStack(t *testing.T) {
	needTool(t, "nginx", "apt-get install -y nginx")
	db := pgtest.URL(t) // first: dropped after every process is gone
	start := time.Now()
	s := startStack(t, readCompose(t), db)
	started := time.Since(start)
	latency := s.chat(t)
	figures(t, "the stack started in %v (Kafka %v), a message reached the other frontend's user through nginx in %v",
		started.Round(100*time.Millisecond), s.kafkaStart.Round(100*time.Millisecond), latency.Round(time.Millisecond))
}

// stack is deploy/compose.yaml running as processes.
type stack struct {
	f          composeFileT
	db         string            // the test server's database for this test
	dir        string            // nginx's files: its configuration, pid and output
	addr       map[string]string // an address as the services name it (host:port) → its loopback address here
	ops        map[string]string // a chatbus service → its ops address
	proxy      string            // nginx's URL
	nginxLog   string            // the file of its output: access log, errors
	brokers    string
	kafkaStart time.Duration
}

func startStack(t *testing.T, f composeFileT, db string) *stack {
	t.Helper()
	s := &stack{f: f, db: db, dir: t.TempDir(), addr: map[string]string{}, ops: map[string]string{}}
	chatbusSvcs := chatbusServices(f)
	for _, wave := range startOrder(t, f) {
		var kafka []string
		for _, name := range wave {
			svc := f.Services[name]
			switch {
			case slices.Contains(chatbusSvcs, name):
				s.startChatbus(t, name)
			case strings.HasPrefix(svc.Image, "apache/kafka"):
				kafka = append(kafka, name) // started together: a quorum
			case strings.HasPrefix(svc.Image, "postgres"):
				s.startPostgres(t, name)
			case strings.HasPrefix(svc.Image, "nginx"):
				s.startNginx(t, name)
			default:
				t.Fatalf("service %s (image %s): this test cannot run it as a process", name, svc.Image)
			}
		}
		if len(kafka) > 0 {
			start := time.Now()
			s.startKafka(t, kafka)
			s.kafkaStart = time.Since(start)
		}
	}
	if s.proxy == "" {
		t.Fatal("compose.yaml has no nginx service")
	}
	// As docs/deploy.md checks them: every chatbus process ready.
	for name, ops := range s.ops {
		waitReady(t, name, "http://"+ops+"/readyz")
	}
	if replication := environment(t, "backend-1", f.Services["backend-1"].Environment)["CHATBUS_REPLICATION"]; replication != "" {
		rf, _ := strconv.Atoi(replication)
		checkReplication(t, clusterAdmin(t, s.brokers), kafkabus.Topics{Replication: int16(rf)})
	}
	return s
}

// startOrder returns compose's services in waves: each wave's services
// depend only on those of the waves before.
func startOrder(t *testing.T, f composeFileT) [][]string {
	t.Helper()
	done := map[string]bool{}
	var waves [][]string
	for len(done) < len(f.Services) {
		var wave []string
		for name, svc := range f.Services {
			if done[name] {
				continue
			}
			ready := true
			for _, dep := range dependsOn(svc) {
				if _, ok := f.Services[dep]; !ok {
					t.Fatalf("service %s depends on %s, which is no service", name, dep)
				}
				ready = ready && done[dep]
			}
			if ready {
				wave = append(wave, name)
			}
		}
		if len(wave) == 0 {
			t.Fatalf("compose.yaml's depends_on has a cycle among the services not started yet")
		}
		slices.Sort(wave)
		for _, name := range wave {
			done[name] = true
		}
		waves = append(waves, wave)
	}
	t.Logf("start order: %v", waves)
	return waves
}

// dependsOn reads a service's depends_on: a list, or a map of conditions.
func dependsOn(svc composeService) []string {
	if m, ok := svc.DependsOn.(map[string]any); ok {
		return slices.Sorted(maps.Keys(m))
	}
	return stringList(svc.DependsOn)
}

// kafkaProps turns a Kafka node's environment into its server
// properties, as the apache/kafka image does: KAFKA_ dropped, lower case,
// "_" a dot ("__" an underscore, "___" a dash); the launcher's own variables
// (KAFKA_HEAP_OPTS, …) and CLUSTER_ID are not properties.
func kafkaProps(env map[string]string) map[string]string {
	launcher := []string{"KAFKA_HEAP_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS",
		"KAFKA_LOG4J_OPTS", "KAFKA_JMX_OPTS", "KAFKA_OPTS"}
	props := map[string]string{}
	for k, v := range env {
		name, ok := strings.CutPrefix(k, "KAFKA_")
		if !ok || slices.Contains(launcher, k) {
			continue
		}
		name = strings.ToLower(name)
		name = strings.ReplaceAll(name, "___", "-")
		name = strings.ReplaceAll(name, "__", "\x00")
		name = strings.ReplaceAll(name, "_", ".")
		props[strings.ReplaceAll(name, "\x00", "_")] = v
	}
	return props
}

// listenerPort is the port of a listener (PLAINTEXT, CONTROLLER) in a
// listeners value such as "PLAINTEXT://:9092,CONTROLLER://:9093".
func listenerPort(listeners, name string) string {
	for _, l := range strings.Split(listeners, ",") {
		if rest, ok := strings.CutPrefix(l, name+"://"); ok {
			_, port, _ := strings.Cut(rest, ":")
			return port
		}
	}
	return ""
}

// startKafka starts the Kafka nodes: one broker and controller each, with
// the properties of their environment. What binds to addresses (node ids'
// listeners, the quorum's voters, the data directory) is the cluster
// harness's, on loopback ports; it is checked here to be what compose
// gives each node, so that only the addresses differ.
func (s *stack) startKafka(t *testing.T, names []string) {
	t.Helper()
	type node struct{ name, host, id, port string }
	var nodes []node
	common := map[string]string(nil)
	heap := ""
	for _, name := range names {
		svc := s.f.Services[name]
		env := environment(t, name, svc.Environment)
		props := kafkaProps(env)
		host := cmp.Or(svc.Hostname, name)
		n := node{name, host, props["node.id"], listenerPort(props["listeners"], "PLAINTEXT")}
		if n.id == "" || n.port == "" {
			t.Fatalf("service %s: no KAFKA_NODE_ID or PLAINTEXT listener: %v", name, props)
		}
		if want := "PLAINTEXT://" + host + ":" + n.port; props["advertised.listeners"] != want {
			t.Errorf("service %s: KAFKA_ADVERTISED_LISTENERS %q, want %q (its name in the network)", name, props["advertised.listeners"], want)
		}
		if props["process.roles"] != "broker,controller" {
			t.Errorf("service %s: KAFKA_PROCESS_ROLES %q: the cluster here runs broker,controller nodes", name, props["process.roles"])
		}
		nodes = append(nodes, n)
		if heap == "" {
			heap = env["KAFKA_HEAP_OPTS"]
		}
		for _, k := range []string{"node.id", "advertised.listeners"} {
			delete(props, k)
		}
		if common == nil {
			common = props
		} else if !maps.Equal(common, props) {
			t.Errorf("service %s: its Kafka settings differ from the other nodes':\n%v\n%v", name, props, common)
		}
	}
	slices.SortFunc(nodes, func(a, b node) int { return strings.Compare(a.id, b.id) })
	var voters []string
	for i, n := range nodes {
		if n.id != strconv.Itoa(i+1) {
			t.Fatalf("Kafka node ids %v: the cluster here numbers them 1 to %d", nodes, len(nodes))
		}
		voters = append(voters, n.id+"@"+n.host+":"+listenerPort(common["listeners"], "CONTROLLER"))
	}
	if got, want := common["controller.quorum.voters"], strings.Join(voters, ","); got != want {
		t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS %q, want every node as a voter: %q", got, want)
	}
	// The harness names its listeners so too.
	protocols := strings.Split(common["listener.security.protocol.map"], ",")
	slices.Sort(protocols)
	if common["controller.listener.names"] != "CONTROLLER" || common["inter.broker.listener.name"] != "PLAINTEXT" ||
		!slices.Equal(protocols, []string{"CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"}) {
		t.Errorf("Kafka's listeners are not PLAINTEXT for clients and brokers and CONTROLLER for controllers: %v", common)
	}
	for _, k := range []string{"listeners", "controller.quorum.voters", "log.dirs"} {
		delete(common, k)
	}
	addrs := kafkacluster.ForTest(t, kafkacluster.Config{Brokers: len(nodes), Props: common, Heap: heap}).Addrs()
	for i, n := range nodes {
		s.addr[n.host+":"+n.port] = addrs[i]
		s.addr[n.name+":"+n.port] = addrs[i]
	}
	s.brokers = strings.Join(addrs, ",")
	t.Logf("Kafka: %d nodes at %s, with %v", len(nodes), s.brokers, common)
}

// startPostgres gives the service's address to the test's database; the
// backends' URL must name its user and database.
func (s *stack) startPostgres(t *testing.T, name string) {
	t.Helper()
	env := environment(t, name, s.f.Services[name].Environment)
	test, err := url.Parse(s.db)
	if err != nil {
		t.Fatal(err)
	}
	s.addr[name+":5432"] = test.Host
	for _, b := range chatbusServices(s.f) {
		dbURL := environment(t, b, s.f.Services[b].Environment)["CHATBUS_DB"]
		if dbURL == "" {
			continue
		}
		u, err := url.Parse(dbURL)
		if err != nil || u.Host != name+":5432" || u.User.Username() != env["POSTGRES_USER"] || u.Path != "/"+env["POSTGRES_DB"] {
			t.Errorf("service %s: CHATBUS_DB %q is not user %s and database %s of %s:5432 (%v)", b, dbURL, env["POSTGRES_USER"], env["POSTGRES_DB"], name, err)
		}
	}
}

// dbURL is a compose CHATBUS_DB on the test's database: its server, user,
// database and schema, with the compose URL's other parameters.
func (s *stack) dbURL(t *testing.T, service, v string) string {
	u, err := url.Parse(v)
	if err != nil || s.addr[u.Host] == "" {
		t.Fatalf("service %s: CHATBUS_DB %q names no PostgreSQL service started before it (%v)", service, v, err)
	}
	test, _ := url.Parse(s.db)
	q := u.Query()
	maps.Copy(q, test.Query())
	u.Host, u.User, u.Path, u.RawQuery = test.Host, test.User, test.Path, q.Encode()
	return u.String()
}

// startChatbus runs a chatbus service's command with its environment,
// addresses made local.
func (s *stack) startChatbus(t *testing.T, name string) {
	t.Helper()
	svc := s.f.Services[name]
	args := stringList(svc.Command)
	env := []string{"CHATBUS_LOG_LEVEL=info"} // compose's default; startCmd's is debug
	var httpAddr string
	for k, v := range environment(t, name, svc.Environment) {
		switch k {
		case "CHATBUS_BROKERS":
			var local []string
			for _, b := range strings.Split(v, ",") {
				if s.addr[b] == "" {
					t.Fatalf("service %s: CHATBUS_BROKERS names %s, no Kafka node started before it", name, b)
				}
				local = append(local, s.addr[b])
			}
			v = strings.Join(local, ",")
		case "CHATBUS_DB":
			v = s.dbURL(t, name, v)
		case "CHATBUS_OPS_ADDR":
			v = freeAddr(t)
			s.ops[name] = v
		case "CHATBUS_HTTP_ADDR":
			_, port, _ := strings.Cut(v, ":")
			v = freeAddr(t)
			httpAddr = v
			// The frontend as the others reach it: by name, or at its
			// fixed address on a network.
			s.addr[name+":"+port] = v
			if nets, ok := svc.Networks.(map[string]any); ok {
				for _, n := range nets {
					if ip, _ := n.(map[string]any)["ipv4_address"].(string); ip != "" {
						s.addr[ip+":"+port] = v
					}
				}
			}
		case "CHATBUS_BUS_SECRET_FILE":
			// Compose mounts a secret the service names at /run/secrets/NAME;
			// here every service shares one file made for the stack.
			secret, ok := strings.CutPrefix(v, "/run/secrets/")
			if !ok || !slices.Contains(svc.Secrets, secret) {
				t.Fatalf("service %s: %s=%s is not a secret of the service (%v)", name, k, v, svc.Secrets)
			}
			v = s.secretFile(t, secret)
		case "CHATBUS_TRUSTED_PROXIES":
			// nginx's network there is loopback here.
			v = "127.0.0.1/32"
		default:
			for other := range s.f.Services {
				if regexp.MustCompile(`\b` + regexp.QuoteMeta(other) + `:\d`).MatchString(v) {
					t.Fatalf("service %s: %s=%s names service %s; this test does not make it local", name, k, v, other)
				}
			}
		}
		env = append(env, k+"="+v)
	}
	ready := map[string]string{"backend": "backend serving", "frontend": "web gateway listening"}[args[0]]
	if ready == "" {
		t.Fatalf("service %s: command %v: this test runs backends and frontends", name, args)
	}
	startCmd(t, env, []string{ready}, args...)
	t.Logf("%s: chatbus %s, http %s, ops %s", name, strings.Join(args, " "), httpAddr, s.ops[name])
}

// secretFile is the stack's file of the secret name, made at its first use
// as deploy/compose.yaml says to make it (openssl rand -hex 32).
func (s *stack) secretFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(s.dir, "secret-"+name)
	if _, err := os.Stat(path); err != nil {
		if err := os.WriteFile(path, []byte(kafkabus.NewSecret()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// startNginx runs nginx with the service's nginx.conf, its addresses made
// local, and waits for its health check to pass.
func (s *stack) startNginx(t *testing.T, name string) {
	t.Helper()
	svc := s.f.Services[name]
	var confPath string
	for _, v := range svc.Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/etc/nginx/nginx.conf") {
			confPath = filepath.Join(filepath.Dir(composeFile), src)
		}
	}
	b, err := os.ReadFile(confPath)
	if err != nil {
		t.Fatalf("service %s mounts no nginx.conf: %v", name, err)
	}
	conf := string(b)
	for from, to := range s.addr {
		for _, pair := range [][2]string{{from, to}, {regexp.QuoteMeta(from), regexp.QuoteMeta(to)}} {
			conf = strings.ReplaceAll(conf, pair[0], pair[1])
		}
	}
	if len(svc.Ports) != 1 {
		t.Fatalf("service %s publishes %v, want one port", name, svc.Ports)
	}
	parts := strings.Split(interpolate(svc.Ports[0]), ":")
	listen := freeAddr(t)
	if n := strings.Count(conf, "listen "+parts[len(parts)-1]+";"); n != 1 {
		t.Fatalf("nginx.conf has %d lines `listen %s;`, want 1 (the port compose publishes)", n, parts[len(parts)-1])
	}
	conf = strings.Replace(conf, "listen "+parts[len(parts)-1]+";", "listen "+listen+";", 1)
	// The upstream's servers are the frontends started here.
	var servers []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+(\S+:\d+)[\s;]`).FindAllStringSubmatch(conf, -1) {
		if !slices.Contains(slices.Collect(maps.Values(s.addr)), m[1]) {
			t.Fatalf("nginx.conf's upstream server %s is not a frontend started here", m[1])
		}
		servers = append(servers, m[1])
	}
	if len(servers) < 2 {
		t.Fatalf("nginx.conf balances %d frontends (%v), want 2", len(servers), servers)
	}
	// The access log says which session each call carried, so that the
	// test sees a session served by both frontends.
	format := "request_id=$request_id';"
	if strings.Count(conf, format) != 1 {
		t.Fatalf("nginx.conf's log format does not end with %s", format)
	}
	conf = strings.Replace(conf, format, "request_id=$request_id session=$cookie_chatbus_session';", 1)
	s.proxy = s.runNginx(t, name, listen, conf)
}

// runNginx runs nginx with conf, listening on listen, until the test ends,
// and waits for the service's health check to pass; it returns its URL.
func (s *stack) runNginx(t *testing.T, name, listen, conf string) string {
	t.Helper()
	path := filepath.Join(s.dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.nginxLog = filepath.Join(s.dir, "nginx.log")
	log, err := os.Create(s.nginxLog)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close() // nginx has its own copy
	cmd := exec.Command("nginx", "-e", "stderr", "-c", path, "-g", "daemon off; pid "+filepath.Join(s.dir, "nginx.pid")+";")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful: workers finish, then the master exits
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(s.nginxLog)
			t.Logf("nginx's log:\n%s", b)
		}
	})
	proxy := "http://" + listen
	// compose's health check of the proxy: a URL through it.
	var check string
	for _, a := range stringList(s.f.Services[name].Healthcheck.Test) {
		if u, err := url.Parse(a); err == nil && u.Scheme == "http" {
			check = proxy + u.Path
		}
	}
	if check == "" {
		t.Fatalf("service %s has no HTTP health check", name)
	}
	select {
	case <-exited:
		b, _ := os.ReadFile(s.nginxLog)
		t.Fatalf("nginx exited:\n%s", b)
	default:
	}
	waitReady(t, name, check)
	return proxy
}

// waitReady waits for url to answer 200.
func waitReady(t *testing.T, name, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not answer 200: %v %v", name, url, res, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// chat drives two users through nginx, which balances their calls over
// both frontends, and returns the time from a message's post to its
// arrival on the other's event stream.
func (s *stack) chat(t *testing.T) time.Duration {
	t.Helper()
	alice, bob := newUser(t, s.proxy), newUser(t, s.proxy)
	alice.call("POST", "/api/signup", map[string]any{"userId": "alice", "userPw": "alice-password", "email": "alice@x.io", "userName": "Alice"}, 201)
	bob.call("POST", "/api/signup", map[string]any{"userId": "bob", "userPw": "bob-password", "email": "bob@x.io", "userName": "Bob"}, 201)
	alice.call("POST", "/api/login", map[string]any{"userId": "alice", "userPw": "alice-password"}, 200)
	bob.call("POST", "/api/login", map[string]any{"userId": "bob", "userPw": "bob-password"}, 200)
	// Calls one after the other take turns at the frontends: each user's
	// session is used at both, whichever saw the login.
	for _, u := range []*user{alice, bob} {
		for range 4 {
			u.call("GET", "/api/me", nil, 200)
		}
	}

	// Bob's event stream, through nginx.
	events := openStream(t, s.proxy, bob)

	alice.call("POST", "/api/friends", map[string]any{"friendIds": []string{"bob"}}, 200)
	room := alice.call("POST", "/api/rooms", map[string]any{"memberIds": []string{"bob"}}, 201)["room"].(map[string]any)["roomId"]
	events.next(t, "room", 10*time.Second)
	path := fmt.Sprintf("/api/rooms/%v/messages", room)
	posted := time.Now()
	alice.call("POST", path, map[string]any{"message": "hi bob, through nginx"}, 201)
	ev := events.next(t, "message", 10*time.Second)
	latency := time.Since(posted)
	if !strings.Contains(ev.data, "hi bob, through nginx") || !strings.Contains(ev.data, `"writerId":"alice"`) {
		t.Errorf("bob's message event: %s", ev.data)
	}
	bob.call("POST", path, map[string]any{"message": "hi alice"}, 201)
	msgs := alice.call("GET", path, nil, 200)["messages"].([]any)
	if len(msgs) != 2 || msgs[1].(map[string]any)["message"] != "hi alice" {
		t.Errorf("alice's history: %v", msgs)
	}

	// nginx's access log: both frontends served calls, and each user's
	// session at both.
	served := map[string]int{}
	sessionAt := map[string]map[string]bool{} // session → frontends
	access, err := os.ReadFile(s.nginxLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"(\S+ \S+) [^"]*" (2\d\d) .* upstream=(\S+) request_id=\S+ session=(\S*)`).FindAllStringSubmatch(string(access), -1) {
		served[m[3]]++
		if m[4] != "" && m[4] != "-" {
			if sessionAt[m[4]] == nil {
				sessionAt[m[4]] = map[string]bool{}
			}
			sessionAt[m[4]][m[3]] = true
		}
	}
	if len(served) != 2 {
		t.Errorf("nginx's calls went to %v, want both frontends", served)
	}
	both := 0
	for _, at := range sessionAt {
		if len(at) == 2 {
			both++
		}
	}
	if both < 2 {
		t.Errorf("%d of %d sessions were served by both frontends, want alice's and bob's (%v)", both, len(sessionAt), sessionAt)
	}
	t.Logf("nginx: calls per frontend %v", served)
	return latency
}

// stream is an event stream being read.
type stream struct {
	url    string
	events chan sse
}

// openStream opens u's event stream at url (until the test ends), checks
// that it is a stream, uncompressed (gzip would hold events back until its
// buffer filled), and that its first event, small, comes at once.
func openStream(t *testing.T, url string, u *user) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Encoding", "gzip")
	opened := time.Now()
	res, err := (&http.Client{Jar: u.c.Jar}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); res.Body.Close() })
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") || res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("GET /api/events through %s: %d, Content-Type %q, Content-Encoding %q", url, res.StatusCode, ct, res.Header.Get("Content-Encoding"))
	}
	st := &stream{url: url, events: make(chan sse, 16)}
	go func() {
		defer close(st.events)
		readSSE(res.Body, func(ev sse) bool {
			select {
			case st.events <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	if ev := st.next(t, "ready", 3*time.Second); !strings.Contains(ev.data, `"authenticated":true`) {
		t.Fatalf("the stream through %s: %s", url, ev.data)
	}
	t.Logf("the stream through %s: ready after %v", url, time.Since(opened).Round(time.Millisecond))
	return st
}

// next returns the stream's next event of that name, skipping others.
func (st *stream) next(t *testing.T, name string, within time.Duration) sse {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				t.Fatalf("the stream through %s ended before a %s event", st.url, name)
			}
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("the stream through %s: no %s event within %v (does nginx buffer it?)", st.url, name, within)
		}
	}
}
