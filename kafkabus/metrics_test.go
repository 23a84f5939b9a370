package kafkabus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
)

// metricValue sums the samples of a family whose labels include want
// (counters, gauges; histograms give their count).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == k && l.GetValue() == v
				}
				if !found {
					continue next
				}
			}
			sum += value(m)
		}
	}
	return sum
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// TestMetrics: requests served (one by one and grouped) and their codes,
// round trips and timeouts are counted; the lag of served partitions
// comes back to zero.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startSystem(t, func(s *system) { s.reg = reg })
	ctx := context.Background()
	c := s.client
	if _, err := c.SignUp(ctx, chatbus.SignUp{UserID: "alice", Password: "s3cret-pw", Email: "a@x.io", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	c.SignUp(ctx, chatbus.SignUp{UserID: "bob", Password: "s3cret-pw", Email: "b@x.io", Name: "B"})
	if _, err := c.LogIn(ctx, "alice", "wrong-password"); chatbus.ErrorCode(err) != chatbus.CodeUnauthenticated {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if _, err := c.AddFriends(ctx, "alice", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	room, err := c.OpenRoom(ctx, chatbus.OpenRoom{UserID: "alice", FriendIDs: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := c.PostMessage(ctx, chatbus.PostMessage{RoomID: room.ID, WriterID: "alice", Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A call whose deadline passes before the reply counts as timed out.
	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	c.Friends(short, "alice")

	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"chatbus_backend_requests_total", map[string]string{"op": "signup", "code": "ok"}, 2},
		{"chatbus_backend_requests_total", map[string]string{"op": "login", "code": kafkabus.WireCode(chatbus.CodeUnauthenticated)}, 1},
		{"chatbus_backend_requests_total", map[string]string{"op": "chat", "code": "ok"}, 5},
		{"chatbus_backend_request_duration_seconds", map[string]string{"op": "chat"}, 5},
		{"chatbus_frontend_request_duration_seconds", map[string]string{"op": "open-room"}, 1},
		{"chatbus_frontend_replies_timed_out_total", map[string]string{"op": "friends"}, 1},
	} {
		if got := metricValue(t, reg, m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	// The lag of each served partition is back to zero once its records are served.
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, reg, "chatbus_backend_consumer_lag", nil) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if lag := metricValue(t, reg, "chatbus_backend_consumer_lag", nil); lag != 0 {
		t.Errorf("consumer lag %v after every request was answered", lag)
	}
	mfs, _ := reg.Gather()
	var series int
	for _, mf := range mfs {
		if mf.GetName() == "chatbus_backend_consumer_lag" {
			series = len(mf.GetMetric())
		}
	}
	if series == 0 {
		t.Error("no consumer lag series for the partitions served")
	}
}

// TestProbe: ready when the brokers answer and the topics exist; not, and
// saying which, when a topic is missing or the brokers are gone.
func TestProbe(t *testing.T) {
	s := startSystem(t)
	ctx := context.Background()
	p, err := kafkabus.NewProbe(s.conn(), s.topics)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("every topic exists: %v", err)
	}
	missing, err := kafkabus.NewProbe(s.conn(), s.topics, s.topics.DeadLetter(), "no-such-topic")
	if err != nil {
		t.Fatal(err)
	}
	defer missing.Close()
	if err := missing.Check(ctx); err == nil || !strings.Contains(err.Error(), "no-such-topic") || strings.Contains(err.Error(), s.topics.DeadLetter()) {
		t.Fatalf("a missing topic: %v", err)
	}
	gone, err := kafkabus.NewProbe(kafkabus.Conn{Brokers: []string{"127.0.0.1:1"}}, s.topics)
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	if err := gone.Check(ctx); err == nil {
		t.Fatal("no broker: ready")
	}
}
