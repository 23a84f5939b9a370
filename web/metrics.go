package web

import (
	"context"
	"crypto/rand"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatbus/chatbus"
)

// Metrics are the gateway's: HTTP calls and event streams. Make them with
// the process's registry (NewMetrics) and pass them in Config; without them
// the gateway records nothing.
type Metrics struct {
	httpDuration *prometheus.HistogramVec
	streams      *prometheus.GaugeVec
	delivered    prometheus.Counter
	dropped      *prometheus.CounterVec
	resumes      prometheus.Counter
	resyncs      prometheus.Counter
}

// NewMetrics registers the gateway's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatbus_http_request_duration_seconds",
			Help:    "HTTP calls to the gateway, by route pattern, method and status class (event streams are not timed: see chatbus_sse_*).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chatbus_sse_connections",
			Help: "Open event streams, by whether they are logged in.",
		}, []string{"authenticated"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatbus_sse_events_delivered_total",
			Help: "Events written to event streams (replayed ones included; heartbeats not).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbus_sse_streams_dropped_total",
			Help: "Event streams the gateway closed: slow (256 events behind), session (logout or expiry), restart (the feed started again), shutdown.",
		}, []string{"reason"}),
		resumes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatbus_sse_resumes_total",
			Help: "Event streams that resumed from their Last-Event-ID.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatbus_sse_resyncs_total",
			Help: "Event streams whose Last-Event-ID could not be served: told to resync.",
		}),
	}
	reg.MustRegister(m.httpDuration, m.streams, m.delivered, m.dropped, m.resumes, m.resyncs)
	m.streams.WithLabelValues("true")
	m.streams.WithLabelValues("false")
	for _, r := range []string{closeSlow, closeSession, closeRestart, closeShutdown} {
		m.dropped.WithLabelValues(r)
	}
	return m
}

func (m *Metrics) streamOpened(authenticated bool) func() {
	if m == nil {
		return func() {}
	}
	g := m.streams.WithLabelValues(strconv.FormatBool(authenticated))
	g.Inc()
	return g.Dec
}

func (m *Metrics) deliveredN(n int) {
	if m != nil && n > 0 {
		m.delivered.Add(float64(n))
	}
}

func (m *Metrics) streamDropped(reason string) {
	if m != nil && reason != "" {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) opened(o opening) {
	if m == nil {
		return
	}
	if o.resumed {
		m.resumes.Inc()
	}
	if o.resync {
		m.resyncs.Inc()
	}
}

// requestIDs that a client or proxy may hand in: short and plain, since
// they end up in logs.
var requestIDs = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// observe gives every call a request id (the proxy's X-Request-Id if it
// sent a plain one, else a new one), returns it as X-Request-Id and passes
// it on to the backend; it times the call by route and logs each 5xx.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Only a trusted proxy names the call: a client's own id would
		// let it plant misleading lines in the logs.
		id := r.Header.Get("X-Request-Id")
		if !requestIDs.MatchString(id) || !contains(s.cfg.TrustedProxies, s.peerAddr(r)) {
			id = rand.Text()[:16]
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(chatbus.WithRequestID(r.Context(), id))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http sends 200
		}
		route := r.Pattern // set by the mux on this very request
		if route == "" {
			route = "unmatched"
		}
		if status >= 500 {
			s.log.Warn("request answered with a server error", "status", status, "method", r.Method,
				"route", route, "requestId", id, "duration", time.Since(start))
		}
		if s.cfg.Metrics == nil || route == "/api/events" && status == http.StatusOK {
			return // a stream's life is not a call's latency
		}
		s.cfg.Metrics.httpDuration.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(status/100)+"xx").
			Observe(time.Since(start).Seconds())
	})
}

// methodLabel keeps the label's values few.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
		return m
	}
	return "other"
}

// statusWriter remembers the status written. Unwrap lets
// http.ResponseController reach the connection (flushes, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestID is the id observe gave the call.
func requestID(ctx context.Context) string { return chatbus.RequestID(ctx) }

// NotReady reports why the gateway cannot serve event streams yet (its
// feed has not read the log as far as it ended at start) or any more (it is
// stopping); nil when it can.
func (s *Server) NotReady() error {
	live, stopping := s.hub.ready()
	switch {
	case stopping:
		return errStopping
	case !live:
		return errNotLive
	}
	return nil
}

var (
	errStopping = chatbus.Errorf(chatbus.CodeUnavailable, "stopping")
	errNotLive  = chatbus.Errorf(chatbus.CodeUnavailable, "the event feed has not caught up with the log yet")
)

// handleReady answers 200 when this frontend can serve, else 503 naming
// what is not ready (without detail: this is the public port). A load
// balancer stops sending new users here once it says so.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	notReady := []string{}
	if err := s.NotReady(); err == errStopping {
		notReady = append(notReady, "stopping")
	} else if err != nil {
		notReady = append(notReady, "events")
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if s.cfg.Ready(ctx) != nil {
			notReady = append(notReady, "kafka")
		}
	}
	if len(notReady) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "notReady": notReady})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}
