package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run measured. Sends, deliveries, rates and latency count
// the messages due after the warm-up; lost and duplicated count every
// message of the run.
type Report struct {
	Mode        string  `json:"mode"`        // "rate", "flat-out" or "idle"
	LatencyFrom string  `json:"latencyFrom"` // "scheduled" (open loop) or "sent"
	Targets     int     `json:"targets"`
	Users       int     `json:"users"`
	Rooms       int     `json:"rooms"`
	Members     int     `json:"members"`
	Streams     int     `json:"streams"`
	Idle        int     `json:"idleStreams"`
	Senders     int     `json:"senders"`
	Rate        float64 `json:"rate"`
	SetupSec    float64 `json:"setupSec"`
	WarmupSec   float64 `json:"warmupSec"`
	DurationSec float64 `json:"durationSec"`

	Sent           int64            `json:"sent"`
	Accepted       int64            `json:"accepted"`
	Failed         int64            `json:"failed"`
	FailedBy       map[string]int64 `json:"failedBy"` // by HTTP status, or "transport", "canceled"
	Unsent         int64            `json:"unsent"`   // due at the fixed rate, but no sender was free before the end
	AcceptedPerSec float64          `json:"acceptedPerSec"`

	Deliveries       int64   `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	P50Ms            float64 `json:"p50Ms"`
	P90Ms            float64 `json:"p90Ms"`
	P99Ms            float64 `json:"p99Ms"`
	MaxMs            float64 `json:"maxMs"`

	Lost         int64 `json:"lost"`         // deliveries accepted messages owed at the end of the grace period
	Duplicated   int64 `json:"duplicated"`   // a message a stream had already
	StreamsEnded int64 `json:"streamsEnded"` // streams the server closed during the run

	// RSS is the server's resident memory (KiB) with --pid: at the start,
	// with every user's stream open, with the idle ones too, at the end.
	RSS struct {
		Start      int64 `json:"start"`
		BeforeIdle int64 `json:"beforeIdle"`
		AfterIdle  int64 `json:"afterIdle"`
		End        int64 `json:"end"`
	} `json:"rssKiB"`
	RSSPerIdleKiB float64 `json:"rssPerIdleStreamKiB"`
}

func (b *bench) fill(r *Report) {
	r.Sent, r.Accepted, r.Unsent = b.sent.Load(), b.accepted.Load(), b.unsent.Load()
	b.mu.Lock()
	r.FailedBy = maps.Clone(b.failures)
	b.mu.Unlock()
	for _, n := range r.FailedBy {
		r.Failed += n
	}
	r.Deliveries = b.deliveries.Load()
	if r.DurationSec > 0 {
		r.AcceptedPerSec = float64(r.Accepted) / r.DurationSec
		r.DeliveriesPerSec = float64(r.Deliveries) / r.DurationSec
	}
	r.P50Ms, r.P90Ms, r.P99Ms = ms(b.latency.quantile(0.5)), ms(b.latency.quantile(0.9)), ms(b.latency.quantile(0.99))
	r.MaxMs = ms(b.latency.quantile(1))
	r.Lost, r.Duplicated, r.StreamsEnded = b.lost(), b.duplicated.Load(), b.streamsEnded.Load()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteJSON writes the report as one line of JSON.
func (r Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteTable writes the report for people.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	mode := r.Mode
	switch r.Mode {
	case "rate":
		mode = fmt.Sprintf("fixed rate, %g msgs/s, open loop", r.Rate)
	case "flat-out":
		mode = fmt.Sprintf("flat out, %d posts in flight", r.Senders)
	}
	row("mode", "%s", mode)
	row("users / rooms × members", "%d / %d × %d", r.Users, r.Rooms, r.Members)
	row("event streams", "%d + %d idle, on %d target(s)", r.Streams, r.Idle, r.Targets)
	row("setup / warm-up / measured", "%.1fs / %.0fs / %.0fs", r.SetupSec, r.WarmupSec, r.DurationSec)
	if r.Mode != "idle" {
		row("sent", "%d", r.Sent)
		row("accepted", "%d (%.0f/s)", r.Accepted, r.AcceptedPerSec)
		row("failed", "%d %s", r.Failed, failures(r.FailedBy))
		if r.Unsent > 0 {
			row("unsent (behind schedule)", "%d", r.Unsent)
		}
		row("deliveries", "%d (%.0f/s)", r.Deliveries, r.DeliveriesPerSec)
		row("latency (from "+r.LatencyFrom+")", "p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms", r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs)
		row("lost / duplicated", "%d / %d", r.Lost, r.Duplicated)
	}
	row("streams ended by the server", "%d", r.StreamsEnded)
	if r.RSS.Start > 0 {
		row("server RSS", "start %s, streams open %s, idle open %s, end %s",
			mib(r.RSS.Start), mib(r.RSS.BeforeIdle), mib(r.RSS.AfterIdle), mib(r.RSS.End))
		if r.Idle > 0 {
			row("server RSS per idle stream", "%.1f KiB", r.RSSPerIdleKiB)
		}
	}
	return tw.Flush()
}

func mib(kib int64) string {
	if kib == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func failures(by map[string]int64) string {
	if len(by) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, by[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
