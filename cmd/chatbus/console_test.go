package main

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/internal/kafkacluster"
)

// The seed's author checked the backend with Kafka's own console tools; so
// does this file, with the tools of kafka-tools (kafka/pom.xml) run through
// their main classes, as kafka-console-producer.sh and
// kafka-console-consumer.sh run them.

const (
	consoleProducer = "org.apache.kafka.tools.ConsoleProducer"
	consoleConsumer = "org.apache.kafka.tools.consumer.ConsoleConsumer"
)

// kafkaTool runs one of Kafka's command-line tools by its main class, with
// stdin as its input, and returns what it writes to stdout and stderr.
func kafkaTool(t *testing.T, lib, class, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := kafkacluster.Command(ctx, lib, class, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var errs strings.Builder
	cmd.Stderr = &errs
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java %s %s: %v\n%s%s", class, strings.Join(args, " "), err, out, errs.String())
	}
	return string(out), errs.String()
}

// The records the seed's flow sends: a sign-up, then a login, keyed by the
// user id ("a|" before the value), one per line as the console producer
// reads them.
const (
	seedSignUp = `a|{"userId":"a","userPw":"1234","email":"a@naver.com","userName":"user_A"}`
	seedLogin  = `a|{"userId":"a","userPw":"1234"}`
)

// consoleFlow is the seed's test, step by step: each step is the command
// line of one tool (after `java -cp "$KAFKA_LIB/*"`), written as README
// shows it with the bootstrap server 127.0.0.1:9092.
var consoleFlow = []struct {
	input string // the producer's input line, or "" for a consumer
	args  []string
}{
	{seedSignUp, []string{consoleProducer, "--bootstrap-server", "127.0.0.1:9092", "--topic", "user-add-request",
		"--property", "parse.key=true", "--property", "key.separator=|"}},
	{"", []string{consoleConsumer, "--bootstrap-server", "127.0.0.1:9092", "--topic", "user-add-response",
		"--from-beginning", "--max-messages", "1"}},
	{seedLogin, []string{consoleProducer, "--bootstrap-server", "127.0.0.1:9092", "--topic", "login-request",
		"--property", "parse.key=true", "--property", "key.separator=|"}},
	{"", []string{consoleConsumer, "--bootstrap-server", "127.0.0.1:9092", "--topic", "login-response",
		"--from-beginning", "--max-messages", "1"}},
}

// TestSeedConsoleTools runs the seed's own test against `chatbus run` on its
// embedded broker: Kafka's console producer sends the sign-up and the login,
// Kafka's console consumer reads login-response, and the reply is the
// seed's, without the password.
func TestSeedConsoleTools(t *testing.T) {
	lib := kafkacluster.JarsForTest(t)
	p := startRun(t, t.TempDir())
	p.mu.Lock()
	brokers := p.kafka
	p.mu.Unlock()
	seedConsoleTest(t, lib, brokers)
}

// TestSeedConsoleToolsOnKafka runs the seed's test as the seed did: a
// backend (`chatbus backend`) on a three-broker Apache Kafka cluster, and
// Kafka's console tools. The cluster is the test binary's shared one: the
// other tests on it keep to topics and groups of their own prefix, and this
// one has the seed's names.
func TestSeedConsoleToolsOnKafka(t *testing.T) {
	c := kafkacluster.Shared(t)
	startCmd(t, []string{"CHATBUS_LOG_LEVEL=info", busSecret(t)}, []string{"backend serving"},
		"backend", "--brokers", c.Bootstrap(), "--data-dir", t.TempDir())
	seedConsoleTest(t, c.Lib(), c.Bootstrap())
}

// seedConsoleTest runs consoleFlow against the brokers, where a chatbus
// backend serves topics without a prefix, and checks the replies.
func seedConsoleTest(t *testing.T, lib, brokers string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	shown := strings.Join(strings.Fields(strings.ReplaceAll(string(readme), "\\\n", " ")), " ")

	var replies []string
	for _, step := range consoleFlow {
		// README shows the same command, quoted for a shell.
		var line []string
		for _, a := range step.args {
			if strings.ContainsAny(a, "|*$ ") {
				a = "'" + a + "'"
			}
			line = append(line, a)
		}
		if want := strings.Join(line, " "); !strings.Contains(shown, want) {
			t.Errorf("README does not show the command %q", want)
		}
		if step.input != "" && !strings.Contains(shown, "'"+step.input+"'") {
			t.Errorf("README does not show the record %q", step.input)
		}

		args := slices.Clone(step.args)
		args[slices.Index(args, "--bootstrap-server")+1] = brokers
		if step.input != "" {
			// The producer logs a failed send and exits 0.
			if _, errs := kafkaTool(t, lib, args[0], step.input+"\n", args[1:]...); strings.Contains(errs, "Error when sending") {
				t.Fatalf("the console producer did not send to %s:\n%s", args[4], errs)
			}
			continue
		}
		// A bound, so that a missing reply fails rather than waits.
		out, _ := kafkaTool(t, lib, args[0], "", append(args[1:], "--timeout-ms", "90000")...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 1 || lines[0] == "" {
			t.Fatalf("%s printed %d lines, want the one reply:\n%s", args[4], len(lines), out)
		}
		replies = append(replies, lines[0])
	}

	var signUp struct{ IsSuccess bool }
	if err := json.Unmarshal([]byte(replies[0]), &signUp); err != nil || !signUp.IsSuccess {
		t.Fatalf("user-add-response: %s (%v)", replies[0], err)
	}
	login := replies[1]
	t.Logf("kafka-console-consumer --topic login-response:\n%s", login)
	var reply map[string]any
	if err := json.Unmarshal([]byte(login), &reply); err != nil {
		t.Fatalf("login-response is no JSON object: %v\n%s", err, login)
	}
	// The seed's reply: {"userId":"a","isSuccess":true,"errorMessage":"",
	// "user":{"userId":"a","userPw":"1234","email":"a@naver.com",
	// "userName":"user_A","userStatus":…,"joinDate":…,"loginDate":…,
	// "logoutDate":…}} — every field but the password.
	user, _ := reply["user"].(map[string]any)
	if reply["userId"] != "a" || reply["isSuccess"] != true || reply["errorMessage"] != "" || user == nil {
		t.Errorf("login-response: %s", login)
	}
	for _, k := range []string{"userId", "email", "userName", "userStatus", "joinDate", "loginDate", "logoutDate"} {
		if _, ok := user[k]; !ok {
			t.Errorf("login-response's user has no %s: %s", k, login)
		}
	}
	if user["userId"] != "a" || user["email"] != "a@naver.com" || user["userName"] != "user_A" {
		t.Errorf("login-response's user: %v", user)
	}
	if _, ok := user["userPw"]; ok || strings.Contains(login, "1234") || strings.Contains(login, "argon2") {
		t.Errorf("login-response holds the password or its hash: %s", login)
	}

	// What the console consumer read is what chatbus wrote: keyed by the
	// user id, uncompressed (the Java client reads every codec, but kafkajs
	// reads no snappy, and the seed's Spring producer compressed nothing).
	c, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumeTopics("login-response"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := c.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("login-response holds %d records, want 1", len(recs))
	}
	r := recs[0]
	if string(r.Key) != "a" || string(r.Value) != login || r.Attrs.CompressionType() != 0 {
		t.Errorf("login-response's record: key %q, compression %d, value %s", r.Key, r.Attrs.CompressionType(), r.Value)
	}
}
