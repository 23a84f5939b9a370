package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/postgres/pgtest"
)

// TestGroupOnApacheKafka shows what kfake cannot: the backends' consumer
// group on Apache Kafka, with either group protocol — classic, and KIP-848's
// consumer protocol (--group-protocol consumer). Two static members share
// the partitions; one is killed with SIGKILL and restarted with its
// instance id, and takes its partitions back without waiting for its
// session to end; then one is killed for good, and the other takes over
// once the session times out (10 s). Both times are figures: from the kill
// to every partition being served again (a round of requests of keys on
// every partition answered).
func TestGroupOnApacheKafka(t *testing.T) {
	for _, protocol := range []string{"classic", "consumer"} {
		t.Run(protocol, func(t *testing.T) {
			db := pgtest.URL(t)
			k := apacheKafka(t)
			dir := t.TempDir()
			env := append([]string{"CHATBUS_LOG_LEVEL=info", "CHATBUS_GROUP_PROTOCOL=" + protocol}, k.env...)
			backs := make([]*proc, 2)
			for i := range backs {
				backs[i] = startCmd(t, env, []string{"backend serving"}, "backend", "--brokers", k.brokers,
					"--db", db, "--data-dir", dir, "--instance-id", fmt.Sprintf("backend-%d", i+1))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			adm := clusterAdmin(t, k.brokers)
			waitGroup(t, ctx, adm, k.group, func(g kafkabus.GroupLag) bool { return g.Members == 2 && len(holders(g)) == 2 })
			cl, err := kafkabus.NewClient(kafkabus.ClientConfig{Conn: kafkabus.Conn{Brokers: strings.Split(k.brokers, ",")},
				Topics: k.topics, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			served := func() time.Duration { return servedAgain(ctx, t, cl) }
			served()

			// The victims hold a partition of the friends requests, which
			// servedAgain asks: the other member may hold none.
			friends := k.topics.Request(kafkabus.OpFriends)
			victim := func() int {
				lags, err := kafkabus.GroupLags(ctx, adm, k.group)
				if err != nil || len(lags) != 1 {
					t.Fatalf("the group: %+v, %v", lags, err)
				}
				for _, p := range lags[0].Partitions {
					if p.Topic == friends && p.Partition == 0 {
						id, _, _ := strings.Cut(p.Member, "@")
						return map[string]int{"backend-1": 0, "backend-2": 1}[id]
					}
				}
				t.Fatalf("no member holds %s/0: %+v", friends, lags[0])
				return 0
			}

			v := victim()
			killed := time.Now()
			backs[v].stop(t, syscall.SIGKILL)
			backs[v] = backs[v].restart(t)
			served()
			back := time.Since(killed) // the restart is part of it
			waitGroup(t, ctx, adm, k.group, func(g kafkabus.GroupLag) bool { return g.Members == 2 && len(holders(g)) == 2 })
			restarted := time.Since(killed)

			v = victim()
			killed = time.Now()
			backs[v].stop(t, syscall.SIGKILL)
			served()
			takeover := time.Since(killed)
			survivor := fmt.Sprintf("backend-%d", 2-v)
			waitGroup(t, ctx, adm, k.group, func(g kafkabus.GroupLag) bool {
				h := holders(g)
				return g.Members == 1 && len(h) == 1 && h[survivor]
			})
			figures(t, "Apache Kafka, group protocol %s: a static member SIGKILLed and restarted serves again %v after the kill (its partitions back, both members, %v); a member SIGKILLed for good: the other serves its partitions %v after the kill",
				protocol, back.Round(time.Millisecond), restarted.Round(time.Millisecond), takeover.Round(time.Millisecond))
			if t.Failed() {
				for _, p := range backs {
					t.Logf("the log of chatbus %s (pid %d):\n%s", p.args[0], p.cmd.Process.Pid, p.logs())
				}
			}
		})
	}
}

// servedAgain sends rounds of requests of 16 keys (so to every partition
// of a topic of the seed's counts, but for a chance of 2^-15 per round)
// until one round is answered whole, and returns how long that took.
func servedAgain(ctx context.Context, t *testing.T, cl *kafkabus.Client) time.Duration {
	t.Helper()
	start := time.Now()
	for ctx.Err() == nil {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := true
		for i := range 16 {
			wg.Go(func() {
				_, err := cl.Friends(ctx, fmt.Sprintf("nobody-%d", i))
				if chatbus.ErrorCode(err) == chatbus.CodeUnavailable || ctx.Err() != nil {
					mu.Lock()
					ok = false
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok {
			return time.Since(start)
		}
	}
	t.Fatal("the backends did not answer again")
	return 0
}
