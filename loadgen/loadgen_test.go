package loadgen_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatbus/chatbus/loadgen"
)

// Short runs against a real system, one after the other (each run's users
// are its own): every accepted message reaches every member's stream once.
func TestRunAgainstSystem(t *testing.T) {
	url := startSystem(t)
	for _, tc := range []struct {
		name string
		rate float64
	}{{"fixed rate", 50}, {"flat out", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			var progress strings.Builder
			rep, err := loadgen.Run(context.Background(), loadgen.Config{Targets: []string{url},
				Users: 6, Rooms: 2, Members: 3, Rate: tc.rate, Senders: 4, Duration: 2 * time.Second,
				Idle: 3, PID: os.Getpid(), Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			rep.WriteTable(t.Output())
			if rep.Accepted == 0 || rep.Failed != 0 || rep.Lost != 0 || rep.Duplicated != 0 || rep.StreamsEnded != 0 {
				t.Errorf("accepted %d, failed %d, lost %d, duplicated %d, streams ended %d",
					rep.Accepted, rep.Failed, rep.Lost, rep.Duplicated, rep.StreamsEnded)
			}
			if rep.Deliveries != rep.Accepted*3 {
				t.Errorf("%d deliveries of %d messages to rooms of 3", rep.Deliveries, rep.Accepted)
			}
			// The schedule is the rate's, whatever the machine's load: every
			// message due is sent or counted as unsent (no sender was free).
			if due := rep.Sent + rep.Unsent; tc.rate > 0 && (due < 99 || due > 101 || rep.Sent == 0) {
				t.Errorf("sent %d and unsent %d in 2 s at 50/s", rep.Sent, rep.Unsent)
			}
			if rep.P50Ms <= 0 || rep.P99Ms < rep.P50Ms || rep.MaxMs < rep.P99Ms {
				t.Errorf("latency p50 %v p99 %v max %v", rep.P50Ms, rep.P99Ms, rep.MaxMs)
			}
			if rep.RSS.Start == 0 || rep.Streams != 6 {
				t.Errorf("rss %+v, streams %d", rep.RSS, rep.Streams)
			}
			if !strings.Contains(progress.String(), "accepted") {
				t.Errorf("no progress line:\n%s", progress.String())
			}
		})
	}
}

// A target that is not this machine is refused before anything is sent.
func TestRefusesRemoteTargets(t *testing.T) {
	for _, target := range []string{"http://192.0.2.1:8080", "http://[2001:db8::1]:8080", "ftp://127.0.0.1/"} {
		_, err := loadgen.Run(context.Background(), loadgen.Config{Targets: []string{target}, Users: 2, Rooms: 1, Members: 2, Duration: time.Second})
		if err == nil {
			t.Errorf("%s: no error", target)
		} else if !strings.Contains(err.Error(), "--allow-remote") && !strings.Contains(err.Error(), "want a URL") {
			t.Errorf("%s: %v", target, err)
		}
	}
}
