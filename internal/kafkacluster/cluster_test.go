package kafkacluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// TestKillAndRestart starts three brokers, writes to a topic of three
// replicas with acks=all, kills the partition's leader, writes on (the
// leadership moved), restarts it on its ports and data, and reads every
// record back once it caught up; then Stop leaves no java process.
func TestKillAndRestart(t *testing.T) {
	start := time.Now()
	c := ForTest(t, Config{Brokers: 3})
	t.Logf("3 brokers ready in %v at %s", time.Since(start).Round(time.Millisecond), c.Bootstrap())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm, err := c.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if r, err := adm.CreateTopic(ctx, 1, 3, nil, "t"); err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("t"),
		kgo.RecordDeliveryTimeout(30*time.Second), kgo.ConsumeTopics("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
	produce(0, 10)
	leader, err := c.Leader(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(leader); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	produce(10, 20)
	t.Logf("killed leader %d; writes went on after %v", leader, time.Since(killed).Round(time.Millisecond))
	if l, _ := c.Leader(ctx, "t", 0); l == leader {
		t.Errorf("broker %d still leads after its kill", l)
	}
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d back and in sync %v after the kill", leader, time.Since(killed).Round(time.Millisecond))
	var got []string
	for len(got) < 20 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 20 || got[0] != "0" || got[19] != "19" {
		t.Errorf("read back %v", got)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("pgrep", "-f", "chatbus.kafkacluster="+c.Dir()).Output(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("java processes left after Stop: %s", out)
	}
}
