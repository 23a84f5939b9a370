package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/web"
)

func prefixes(flag string, cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, cidr := range cidrs {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, cidr, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func listenHTTP(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the web gateway cannot listen on %s (choose another with --http-addr): %w", addr, err)
	}
	return ln, nil
}

// runFrontend serves the web gateway on ln until ctx is done; it reaches the
// backend through Kafka only.
func runFrontend(ctx context.Context, log *slog.Logger, o *ops, ln net.Listener, conn kafkabus.Conn, kf kafkaFlags, wf webFlags) error {
	o.expect("kafka", "events")
	// A failure to serve stops this frontend's other parts too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	topics, err := kf.topics(false)
	if err != nil {
		return err
	}
	if err := ensureSessionTopic(ctx, conn, kf, &topics, wf); err != nil {
		return err
	}
	feedMetrics := kafkabus.NewFeedMetrics(o.reg)
	sessions, err := kafkabus.NewSessionLog(withClientID(conn, kf.ClientID+"-sessions"), topics, feedMetrics)
	if err != nil {
		return err
	}
	defer sessions.Close()
	client, err := kafkabus.NewClient(kafkabus.ClientConfig{
		Conn:    withClientID(conn, kf.ClientID+"-frontend"),
		Topics:  topics,
		Timeout: wf.RequestTimeout,
		Metrics: kafkabus.NewClientMetrics(o.reg),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	exempt, err := prefixes("--limits-exempt", wf.LimitsExempt)
	if err != nil {
		return err
	}
	proxies, err := prefixes("--trusted-proxies", wf.TrustedProxies)
	if err != nil {
		return err
	}
	kafkaReady, err := o.watchKafka(withClientID(conn, kf.ClientID+"-probe"), topics)
	if err != nil {
		return err
	}
	eventLog, err := kafkabus.NewEventLog(withClientID(conn, kf.ClientID+"-probe"), topics)
	if err != nil {
		return err
	}
	defer eventLog.Close()
	gw, err := web.New(web.Config{Service: client, Sessions: sessions, Logger: log, Metrics: web.NewMetrics(o.reg), Ready: kafkaReady,
		LogEnd:      eventLog.Ends,
		SessionIdle: wf.SessionIdle, SessionMax: wf.SessionMax,
		Exempt: exempt, TrustedProxies: proxies, TrustedOrigins: wf.TrustedOrigins, SecureCookies: wf.SecureCookies,
		StreamsPerUser: wf.StreamsPerUser, StreamsPerAddr: wf.StreamsPerAddr, Resumable: wf.ResumeEvents})
	if err != nil {
		return err
	}
	o.check("events", func(context.Context) error { return gw.NotReady() })
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	gwDone := make(chan struct{})
	go func() { gw.Run(ctx); close(gwDone) }()
	sessionsDone := make(chan struct{})
	go func() {
		defer close(sessionsDone)
		if err := sessions.Run(ctx, gw.ApplySession); err != nil && ctx.Err() == nil {
			log.Error("read sessions", "err", err)
		}
	}()
	defer func() { <-sessionsDone }()
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		feed := kafkabus.Feed{Conn: withClientID(conn, kf.ClientID+"-events"),
			Topics: topics, Backlog: wf.ResumeWindow, BacklogMax: int64(wf.ResumeEvents), Metrics: feedMetrics}
		if err := feed.Run(ctx, gw); err != nil && ctx.Err() == nil {
			log.Error("read events", "err", err)
		}
	}()
	defer func() { <-eventsDone }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("web gateway listening", "url", "http://"+ln.Addr().String())
	select {
	case err = <-serveErr:
		cancel()
	case <-ctx.Done():
	}
	<-gwDone // event streams are ended, so Shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	log.Info("web gateway stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ensureSessionTopic creates the frontends' own topic if it is missing: they
// know how long a session may last, and so how long it keeps records.
func ensureSessionTopic(ctx context.Context, conn kafkabus.Conn, kf kafkaFlags, topics *kafkabus.Topics, wf webFlags) error {
	topics.SessionMax = wf.SessionMax
	spec := func(t kafkabus.Topics) []kafkabus.TopicSpec { return []kafkabus.TopicSpec{t.SessionSpec()} }
	if err := ensureTopics(ctx, conn, *topics, spec); err != nil {
		return kf.explainKafka(err)
	}
	return nil
}

// withClientID returns conn with another client id.
func withClientID(conn kafkabus.Conn, id string) kafkabus.Conn {
	conn.ClientID = id
	return conn
}
