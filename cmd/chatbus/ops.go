package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/sqlstore"
)

// ops is what a process shows its operator on --ops-addr: /metrics
// (Prometheus, this process's own registry), /healthz (alive), /readyz (can
// do its job: each part registers the checks of what it needs) and Go's
// profiler under /debug/pprof/.
type ops struct {
	reg      *prometheus.Registry
	stopping atomic.Bool

	mu     sync.Mutex
	checks map[string]func(context.Context) error
	probe  *kafkabus.Probe // the broker and topics check, shared by backend and frontend
	srv    *http.Server
}

func newOps() *ops {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &ops{reg: reg, checks: map[string]func(context.Context) error{}}
}

var errStarting = errors.New("starting")

// expect names a check that is not ready until check sets it.
func (o *ops) expect(names ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, name := range names {
		if o.checks[name] == nil {
			o.checks[name] = func(context.Context) error { return errStarting }
		}
	}
}

// check sets what /readyz asks about name.
func (o *ops) check(name string, fn func(context.Context) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checks[name] = fn
}

// watchKafka checks, under the name kafka, that the brokers answer and
// chatbus's topics exist; once per process. It returns the check.
func (o *ops) watchKafka(conn kafkabus.Conn, topics kafkabus.Topics) (func(context.Context) error, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.probe == nil {
		conn.Logger = nil // its failures are what /readyz reports
		p, err := kafkabus.NewProbe(conn, topics)
		if err != nil {
			return nil, err
		}
		o.probe = p
		o.checks["kafka"] = p.Check
	}
	return o.probe.Check, nil
}

// watchDB times the store's transactions, exports its pools' statistics
// and checks, under the name database, that the database answers.
func (o *ops) watchDB(store *sqlstore.Store) {
	tx := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chatbus_db_transaction_duration_seconds",
		Help:    "Database transactions, begin to commit or rollback, by kind: update (a write), view (a read), batch (a group of chats).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
	}, []string{"kind"})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatbus_db_transactions_failed_total",
		Help: "Database transactions that failed for an internal reason (not a rule's refusal, such as not found), by kind.",
	}, []string{"kind"})
	o.reg.MustRegister(tx, failed)
	for _, kind := range []string{"update", "view", "batch"} {
		tx.WithLabelValues(kind)
		failed.WithLabelValues(kind)
	}
	store.Observe = func(kind string, d time.Duration, err error) {
		tx.WithLabelValues(kind).Observe(d.Seconds())
		if err != nil && chatbus.ErrorCode(err) == chatbus.CodeInternal {
			failed.WithLabelValues(kind).Inc()
		}
	}
	o.reg.MustRegister(collectors.NewDBStatsCollector(store.Write, "write"))
	if store.Read != store.Write {
		o.reg.MustRegister(collectors.NewDBStatsCollector(store.Read, "read"))
	}
	o.check("database", store.Ping)
}

// ready runs every check at once, each within 2 s; it returns what is not
// ready, by name.
func (o *ops) ready(ctx context.Context) (checked []string, notReady map[string]string) {
	o.mu.Lock()
	checks := make(map[string]func(context.Context) error, len(o.checks))
	for name, fn := range o.checks {
		checks[name] = fn
		checked = append(checked, name)
	}
	o.mu.Unlock()
	slices.Sort(checked)
	notReady = map[string]string{}
	if o.stopping.Load() {
		notReady["process"] = "stopping"
	}
	if len(checks) == 0 {
		notReady["process"] = "starting"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, fn := range checks {
		wg.Go(func() {
			if err := fn(ctx); err != nil {
				mu.Lock()
				notReady[name] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return checked, notReady
}

func (o *ops) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{Registry: o.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		checked, notReady := o.ready(r.Context())
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		body := map[string]any{"status": "ready", "checks": checked}
		status := http.StatusOK
		if len(notReady) > 0 {
			body["status"], body["notReady"] = "not ready", notReady
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serve serves the ops endpoints on addr until close. It should listen on
// loopback or a private network: the profiler shows the program's insides.
func (o *ops) serve(log *slog.Logger, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--ops-addr %s: %w", addr, err)
	}
	o.srv = &http.Server{Handler: o.handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("ops server listening", "url", "http://"+ln.Addr().String(), "paths", "/metrics /healthz /readyz /debug/pprof/")
	go o.srv.Serve(ln)
	return nil
}

// close stops the server and the probe, once the process's work is done:
// until then /readyz says it is stopping.
func (o *ops) close() {
	if o.srv != nil {
		o.srv.Close()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.probe != nil {
		o.probe.Close()
	}
}
