package kafkabus

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Metrics of the Kafka side, each made with the registry of the process
// that runs it (none is global). A nil *…Metrics records nothing, so tests
// and callers that do not care pass none.

// latencyBuckets spans a request's life here: a fraction of a millisecond
// (a read on an idle system) to the 30 s a request may take.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// ServerMetrics are the backend's: requests served, how long they took,
// dead letters, and how far each partition's worker is behind its log.
type ServerMetrics struct {
	duration    *prometheus.HistogramVec
	requests    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	lag         *prometheus.GaugeVec

	mu    sync.Mutex
	parts map[topicPartition]*partLag
}

type partLag struct{ end, next int64 }

// NewServerMetrics registers the backend's metrics with reg.
func NewServerMetrics(reg prometheus.Registerer) *ServerMetrics {
	m := &ServerMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatbus_backend_request_duration_seconds",
			Help:    "Time to serve one request, from the start of its work to its reply (a grouped chat counts its group's transaction).",
			Buckets: latencyBuckets,
		}, []string{"op"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbus_backend_requests_total",
			Help: "Requests answered, by operation and the reply's errorCode (ok when it succeeded).",
		}, []string{"op", "code"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbus_backend_dead_letters_total",
			Help: "Requests copied to the dead-letter topic (unusable, or failed for an internal reason).",
		}, []string{"op"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chatbus_backend_consumer_lag",
			Help: "Records of an assigned request partition not served yet: its high watermark at the last fetch minus the next offset to serve.",
		}, []string{"topic", "partition"}),
		parts: map[topicPartition]*partLag{},
	}
	reg.MustRegister(m.duration, m.requests, m.deadLetters, m.lag)
	for _, op := range Operations {
		m.duration.WithLabelValues(op.Name)
		m.deadLetters.WithLabelValues(op.Name)
	}
	return m
}

// served records one answered request.
func (m *ServerMetrics) served(op, code string, took time.Duration, deadLettered bool) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(op).Observe(took.Seconds())
	m.requests.WithLabelValues(op, code).Inc()
	if deadLettered {
		m.deadLetters.WithLabelValues(op).Inc()
	}
}

// fetched notes a partition's high watermark, and where its worker stands
// if that is not known yet (the first records fetched).
func (m *ServerMetrics) fetched(p kgo.FetchTopicPartition) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tp := topicPartition{p.Topic, p.Partition}
	pl := m.parts[tp]
	if pl == nil {
		if len(p.Records) == 0 {
			return
		}
		pl = &partLag{next: p.Records[0].Offset}
		m.parts[tp] = pl
	}
	pl.end = max(pl.end, p.HighWatermark)
	m.setLag(tp, pl)
}

// reached notes that a partition's records before next are served.
func (m *ServerMetrics) reached(tp topicPartition, next int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pl := m.parts[tp]
	if pl == nil {
		pl = &partLag{}
		m.parts[tp] = pl
	}
	pl.next = max(pl.next, next)
	pl.end = max(pl.end, next)
	m.setLag(tp, pl)
}

func (m *ServerMetrics) setLag(tp topicPartition, pl *partLag) {
	m.lag.WithLabelValues(tp.topic, strconv.Itoa(int(tp.partition))).Set(float64(max(0, pl.end-pl.next)))
}

// forget drops partitions no longer assigned (all when nil): another
// backend reports them now.
func (m *ServerMetrics) forget(which map[string][]int32) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for tp := range m.parts {
		if which != nil {
			found := false
			for _, p := range which[tp.topic] {
				found = found || p == tp.partition
			}
			if !found {
				continue
			}
		}
		delete(m.parts, tp)
		m.lag.DeleteLabelValues(tp.topic, strconv.Itoa(int(tp.partition)))
	}
}

// ClientMetrics are a caller's (the frontend's): round trips and the
// replies that did not come in time.
type ClientMetrics struct {
	duration *prometheus.HistogramVec
	timedOut *prometheus.CounterVec
	refusals *prometheus.CounterVec
}

// NewClientMetrics registers a caller's metrics with reg.
func NewClientMetrics(reg prometheus.Registerer) *ClientMetrics {
	m := &ClientMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatbus_frontend_request_duration_seconds",
			Help:    "Round trip of one request to the backend over Kafka: produce, serve, reply.",
			Buckets: latencyBuckets,
		}, []string{"op"}),
		timedOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbus_frontend_replies_timed_out_total",
			Help: "Requests whose reply did not come before the caller's deadline (answered 503).",
		}, []string{"op"}),
		refusals: refusedCounter("chatbus_frontend_replies_refused_total",
			"Records with the correlation id of a call in flight that were refused: unsigned, a bad signature, or on another operation's response topic."),
	}
	reg.MustRegister(m.duration, m.timedOut, m.refusals)
	for _, op := range Operations {
		m.duration.WithLabelValues(op.Name)
		m.timedOut.WithLabelValues(op.Name)
	}
	return m
}

func (m *ClientMetrics) called(op string, took time.Duration, timedOut bool) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(op).Observe(took.Seconds())
	if timedOut {
		m.timedOut.WithLabelValues(op).Inc()
	}
}

func (m *ClientMetrics) refused(topic, reason string) {
	if m != nil {
		m.refusals.WithLabelValues(topic, reason).Inc()
	}
}

// refusedCounter counts refused records by topic and reason.
func refusedCounter(name, help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic", "reason"})
}

// FeedMetrics are a frontend's event feed's.
type FeedMetrics struct {
	lag      prometheus.Gauge
	refusals *prometheus.CounterVec

	mu    sync.Mutex
	parts map[topicPartition]int64
}

// NewFeedMetrics registers the feed's metrics with reg.
func NewFeedMetrics(reg prometheus.Registerer) *FeedMetrics {
	m := &FeedMetrics{
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatbus_feed_lag",
			Help: "Events this frontend has not read yet: the event topics' high watermarks at the last fetch minus its position, summed over partitions.",
		}),
		refusals: refusedCounter("chatbus_frontend_records_refused_total",
			"Event and session records refused because the bus secret does not sign them (forged or unsigned): not pushed, no session."),
		parts: map[topicPartition]int64{},
	}
	reg.MustRegister(m.lag, m.refusals)
	return m
}

func (m *FeedMetrics) refused(topic, reason string) {
	if m != nil {
		m.refusals.WithLabelValues(topic, reason).Inc()
	}
}

func (m *FeedMetrics) fetched(p kgo.FetchTopicPartition) {
	if m == nil || len(p.Records) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.parts[topicPartition{p.Topic, p.Partition}] = max(0, p.HighWatermark-(p.Records[len(p.Records)-1].Offset+1))
	var sum int64
	for _, n := range m.parts {
		sum += n
	}
	m.lag.Set(float64(sum))
}

// RelayMetrics are the outbox relay's.
type RelayMetrics struct {
	published *prometheus.CounterVec
}

// NewRelayMetrics registers the relay's metrics with reg.
func NewRelayMetrics(reg prometheus.Registerer) *RelayMetrics {
	m := &RelayMetrics{published: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatbus_relay_events_published_total",
		Help: "Outbox events the relay published (acknowledged by the broker), by topic.",
	}, []string{"topic"})}
	reg.MustRegister(m.published)
	return m
}

func (m *RelayMetrics) count(recs []*kgo.Record) {
	if m == nil {
		return
	}
	for _, r := range recs {
		m.published.WithLabelValues(r.Topic).Inc()
	}
}

// Instrument makes the relay count what it publishes.
func (r *Relay) Instrument(m *RelayMetrics) { r.metrics = m }
