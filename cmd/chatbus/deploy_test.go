package main

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"go.yaml.in/yaml/v3"
)

// The deployment files (Dockerfile, deploy/compose.yaml, deploy/nginx.conf)
// are checked against the program here, so that a renamed flag or command
// breaks a test rather than a deployment.

const composeFile = "../../deploy/compose.yaml"

type composeService struct {
	Image       string   `yaml:"image"`
	Build       any      `yaml:"build"`
	Command     any      `yaml:"command"`
	Entrypoint  any      `yaml:"entrypoint"`
	Environment any      `yaml:"environment"`
	Networks    any      `yaml:"networks"`
	Hostname    string   `yaml:"hostname"`
	DependsOn   any      `yaml:"depends_on"`
	Ports       []string `yaml:"ports"`
	Volumes     []string `yaml:"volumes"`
	Secrets     []string `yaml:"secrets"`
	Healthcheck struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeFileT struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		Ipam struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

func readCompose(t *testing.T) composeFileT {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFileT
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	if len(f.Services) == 0 {
		t.Fatalf("%s has no services", composeFile)
	}
	return f
}

// interpolation is compose's ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?message} and ${VAR?message}.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate gives each variable its default, or "set" where it must be set.
func interpolate(s string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		switch {
		case strings.HasSuffix(sub[2], "-"):
			return sub[3]
		case strings.HasSuffix(sub[2], "?"):
			return "set"
		}
		return ""
	})
}

// stringList reads a compose command (a list, or a string split at spaces).
func stringList(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

// environment reads a compose environment (a map, or a list of K=V),
// interpolated.
func environment(t *testing.T, service string, v any) map[string]string {
	env := map[string]string{}
	switch v := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range v {
			if val == nil {
				val = ""
			}
			env[k] = interpolate(fmt.Sprint(val))
		}
	case []any:
		for _, e := range v {
			k, val, _ := strings.Cut(fmt.Sprint(e), "=")
			env[k] = interpolate(val)
		}
	default:
		t.Fatalf("service %s: environment is a %T", service, v)
	}
	return env
}

// helpOf runs the program's own help, as an operator would.
func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append(args, "--help")...)
	cmd.Env = append(os.Environ(), "CHATBUS_TEST_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chatbus %s --help: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// chatbusServices are the services that run the chatbus image: built here,
// or named chatbus.
func chatbusServices(f composeFileT) []string {
	var names []string
	for name, s := range f.Services {
		if s.Build != nil || strings.Contains(s.Image, "chatbus") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// TestComposeMatchesFlags: every chatbus service of deploy/compose.yaml runs a
// real command, and each CHATBUS_ variable it sets is a flag of that command
// (names from the program's help) with a value the command accepts.
func TestComposeMatchesFlags(t *testing.T) {
	f := readCompose(t)
	commands := map[string]bool{}
	top := helpOf(t)
	_, list, _ := strings.Cut(top, "Commands:")
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z]+) `).FindAllStringSubmatch(list, -1) {
		commands[m[1]] = true
	}
	if !commands["backend"] || !commands["frontend"] {
		t.Fatalf("chatbus --help lists no backend or frontend command:\n%s", top)
	}
	envsOf := map[string]map[string]bool{}
	envRe := regexp.MustCompile(`\$(CHATBUS_[A-Z0-9_]+)`)

	services := chatbusServices(f)
	ran := map[string]int{}
	for _, name := range services {
		s := f.Services[name]
		if s.Entrypoint != nil {
			t.Errorf("service %s: sets entrypoint; the image's is /chatbus", name)
		}
		args := stringList(s.Command)
		if len(args) == 0 || !commands[args[0]] {
			t.Errorf("service %s: command %q is not a chatbus command (%v)", name, args, slices.Sorted(maps.Keys(commands)))
			continue
		}
		sub := args[0]
		ran[sub]++
		if envsOf[sub] == nil {
			envsOf[sub] = map[string]bool{}
			for _, m := range envRe.FindAllStringSubmatch(helpOf(t, sub), -1) {
				envsOf[sub][m[1]] = true
			}
		}
		env := environment(t, name, s.Environment)
		for k := range env {
			if strings.HasPrefix(k, "CHATBUS_") && !envsOf[sub][k] {
				t.Errorf("service %s: %s is no flag of chatbus %s", name, k, sub)
			}
		}
		for _, a := range args[1:] {
			if flag, ok := strings.CutPrefix(a, "--"); ok {
				flag, _, _ = strings.Cut(flag, "=")
				if !envsOf[sub]["CHATBUS_"+strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))] {
					t.Errorf("service %s: --%s is no flag of chatbus %s", name, flag, sub)
				}
			}
		}
		checkValues(t, name, args, env)
	}
	if ran["backend"] < 2 || ran["frontend"] < 2 {
		t.Errorf("compose runs %d backends and %d frontends, want 2 of each", ran["backend"], ran["frontend"])
	}

	// Other services set no CHATBUS_ variable: it would do nothing there.
	for name, s := range f.Services {
		if slices.Contains(services, name) {
			continue
		}
		for k := range environment(t, name, s.Environment) {
			if strings.HasPrefix(k, "CHATBUS_") {
				t.Errorf("service %s (image %s) is not chatbus but sets %s", name, s.Image, k)
			}
		}
	}
}

// checkValues parses the service's command line and environment as the
// program does, and checks what the program would check at start.
func checkValues(t *testing.T, service string, args []string, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CHATBUS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var c cli
	p, err := kong.New(&c, kong.Name("chatbus"), kong.DefaultEnvars("CHATBUS"),
		kong.Exit(func(int) { t.Errorf("service %s: the command line exits", service) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(args); err != nil {
		t.Errorf("service %s: chatbus %s with its environment: %v", service, strings.Join(args, " "), err)
		return
	}
	if c.OpsAddr == "" {
		t.Errorf("service %s: no --ops-addr (CHATBUS_OPS_ADDR): no /readyz or /metrics", service)
	} else if _, _, err := net.SplitHostPort(c.OpsAddr); err != nil {
		t.Errorf("service %s: --ops-addr: %v", service, err)
	}
	var kf kafkaFlags
	var bus busFlags
	switch args[0] {
	case "backend":
		kf, bus = c.Backend.kafkaFlags, c.Backend.busFlags
		if c.Backend.InstanceID == "" {
			t.Errorf("service %s: a backend without --instance-id (CHATBUS_INSTANCE_ID) rejoins its group slowly", service)
		}
		if !strings.HasPrefix(c.Backend.DB, "postgres://") {
			t.Errorf("service %s: --db %q: the backends share one PostgreSQL database", service, c.Backend.DB)
		}
	case "frontend":
		kf, bus = c.Frontend.kafkaFlags, c.Frontend.busFlags
		if _, err := prefixes("--trusted-proxies", c.Frontend.TrustedProxies); err != nil {
			t.Errorf("service %s: %v", service, err)
		}
		if _, err := prefixes("--limits-exempt", c.Frontend.LimitsExempt); err != nil {
			t.Errorf("service %s: %v", service, err)
		}
		if _, _, err := net.SplitHostPort(c.Frontend.HTTPAddr); err != nil || strings.HasPrefix(c.Frontend.HTTPAddr, "127.") {
			t.Errorf("service %s: --http-addr %q: the proxy cannot reach it", service, c.Frontend.HTTPAddr)
		}
	}
	if _, err := kf.topics(false); err != nil {
		t.Errorf("service %s: %v", service, err)
	}
	if bus.BusSecretFile != busSecretInCompose {
		t.Errorf("service %s: --bus-secret-file %q, want the compose secret %s: backends and frontends share one", service, bus.BusSecretFile, busSecretInCompose)
	}
	if len(kf.Brokers) < 3 {
		t.Errorf("service %s: --brokers %v: want the three Kafka nodes", service, kf.Brokers)
	}
}

// busSecretInCompose is where compose mounts the bus secret (deploy/bus.secret).
const busSecretInCompose = "/run/secrets/bus_secret"

// TestComposeServices: the backends' static member ids are unique, and every
// chatbus service is one the others and the proxy expect.
func TestComposeServices(t *testing.T) {
	f := readCompose(t)
	ids := map[string]string{}
	for _, name := range chatbusServices(f) {
		s := f.Services[name]
		if stringList(s.Command)[0] != "backend" {
			continue
		}
		id := environment(t, name, s.Environment)["CHATBUS_INSTANCE_ID"]
		if other, ok := ids[id]; ok {
			t.Errorf("services %s and %s share the instance id %q: one would fence the other", other, name, id)
		}
		ids[id] = name
	}
	for _, want := range []string{"kafka1", "kafka2", "kafka3", "postgres", "proxy"} {
		if _, ok := f.Services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
}

// TestNginxMatchesCompose: nginx.conf sends to exactly the frontends of
// compose.yaml, at their fixed addresses and --http-addr port; the frontends
// trust the network nginx is on.
func TestNginxMatchesCompose(t *testing.T) {
	f := readCompose(t)
	conf, err := os.ReadFile("../../deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	var frontends []string // ip:port
	var trusted []string
	for _, name := range chatbusServices(f) {
		s := f.Services[name]
		if stringList(s.Command)[0] != "frontend" {
			continue
		}
		env := environment(t, name, s.Environment)
		_, port, _ := net.SplitHostPort(env["CHATBUS_HTTP_ADDR"])
		nets, _ := s.Networks.(map[string]any)
		front, _ := nets["front"].(map[string]any)
		ip, _ := front["ipv4_address"].(string)
		if ip == "" || port == "" {
			t.Errorf("service %s: no fixed address on network front (%v) or no CHATBUS_HTTP_ADDR port", name, s.Networks)
			continue
		}
		frontends = append(frontends, net.JoinHostPort(ip, port))
		trusted = append(trusted, env["CHATBUS_TRUSTED_PROXIES"])
	}
	slices.Sort(frontends)

	var subnet netip.Prefix
	if cfg := f.Networks["front"].Ipam.Config; len(cfg) == 1 {
		subnet, err = netip.ParsePrefix(cfg[0].Subnet)
	}
	if err != nil || !subnet.IsValid() {
		t.Fatalf("network front has no subnet: %v", err)
	}
	proxy := f.Services["proxy"]
	if nets := stringList(proxy.Networks); !slices.Equal(nets, []string{"front"}) {
		t.Errorf("proxy is on networks %v, want [front] (the frontends trust that subnet)", nets)
	}
	for _, tr := range trusted {
		p, err := netip.ParsePrefix(tr)
		if err != nil || !p.Contains(subnet.Addr()) || p.Bits() > subnet.Bits() {
			t.Errorf("CHATBUS_TRUSTED_PROXIES %q does not cover the proxy's network %s", tr, subnet)
		}
	}

	blocks := regexp.MustCompile(`(?s)upstream\s+(\S+)\s*\{(.*?)\}`).FindAllStringSubmatch(string(conf), -1)
	if len(blocks) != 1 {
		t.Errorf("nginx.conf has %d upstreams, want one of all the frontends", len(blocks))
	}
	for _, b := range blocks {
		var servers []string
		for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([0-9.]+:[0-9]+)`).FindAllStringSubmatch(b[2], -1) {
			servers = append(servers, m[1])
		}
		slices.Sort(servers)
		if !slices.Equal(servers, frontends) {
			t.Errorf("nginx.conf upstream %s has %v, want the frontends %v", b[1], servers, frontends)
		}
	}
	// No sticky routing: sessions are valid on every frontend.
	for _, sticky := range []string{"chatbus_route", "sticky", "ip_hash", "hash $", "backup"} {
		if strings.Contains(string(conf), sticky) {
			t.Errorf("nginx.conf routes browsers to a frontend of their own (%q): sessions need not", sticky)
		}
	}
	for _, want := range []string{"proxy_buffering off", "proxy_http_version 1.1", "X-Forwarded-For $proxy_add_x_forwarded_for", "location = /api/events"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
}

// TestDockerfileGoVersion: the image builds with the Go of go.mod.
func TestDockerfileGoVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	got := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)`).FindSubmatch(df)
	if want == nil || got == nil || string(got[1]) != string(want[1]) {
		t.Errorf("Dockerfile's GO_VERSION %q, go.mod's go %q", got, want)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "USER 65532", `ENTRYPOINT ["/chatbus"]`, "./cmd/chatbus"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestComposeConfig: docker compose itself accepts the file, where it is
// installed (it needs no Docker engine).
func TestComposeConfig(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker")
	}
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Skip("no docker compose")
	}
	file, _ := filepath.Abs(composeFile)
	// --env-file: not deploy/.env, which may hold the password.
	cmd := exec.Command("docker", "compose", "-f", file, "--env-file", os.DevNull, "config", "-q")
	cmd.Env = append(os.Environ(), "POSTGRES_PASSWORD=test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
	// Without the password, it refuses to start.
	cmd = exec.Command("docker", "compose", "-f", file, "--env-file", os.DevNull, "config", "-q")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POSTGRES_PASSWORD=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "POSTGRES_PASSWORD") {
		t.Errorf("docker compose config without POSTGRES_PASSWORD: %v\n%s", err, out)
	}
}
