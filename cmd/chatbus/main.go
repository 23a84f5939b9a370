// Command chatbus is the Kafka-native messenger: one binary whose
// subcommands run the whole system (run), or one part of it (broker,
// backend, frontend), or load a running one (bench). Every flag is also an environment variable (CHATBUS_…).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
)

// cli is the command line. Each flag has an environment variable, shown by
// --help: --data-dir is CHATBUS_DATA_DIR, and so on.
type cli struct {
	LogLevel  string `help:"Log level: debug, info, warn or error." default:"info" enum:"debug,info,warn,error"`
	LogFormat string `help:"Log format: text or json." default:"text" enum:"text,json"`
	OpsAddr   string `help:"Serve /metrics, /healthz, /readyz and Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:9464 (off when empty). Keep it on loopback or a private network." name:"ops-addr"`

	Run      runCmd      `cmd:"" help:"Run the whole system in one process: embedded broker (unless --brokers is given), backend and web gateway."`
	Broker   brokerCmd   `cmd:"" help:"Run only the embedded Kafka-protocol broker."`
	Backend  backendCmd  `cmd:"" help:"Run only the backend, against any Kafka cluster."`
	Frontend frontendCmd `cmd:"" help:"Run only the web gateway, against any Kafka cluster."`
	Bench    benchCmd    `cmd:"" help:"Load a running system through its public HTTP/SSE API and report rates, latency, lost and duplicated deliveries."`
	Topics   topicsCmd   `cmd:"" help:"List, create and check chatbus's topics on a cluster (list, create, check), and show the backends' consumer lag (lag)."`
}

func main() {
	var c cli
	kctx := kong.Parse(&c,
		kong.Name("chatbus"),
		kong.Description("A Kafka-native messenger."),
		kong.DefaultEnvars("CHATBUS"),
		kong.UsageOnError(),
	)
	log := newLogger(c.LogLevel, c.LogFormat)
	slog.SetDefault(log)

	// The first SIGINT or SIGTERM stops gracefully; a second one exits at once.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	o := newOps()
	go func() {
		<-ctx.Done()
		o.stopping.Store(true) // /readyz says so from now on
		stop()
		again := make(chan os.Signal, 1)
		signal.Notify(again, syscall.SIGINT, syscall.SIGTERM)
		<-again
		log.Error("second signal: exiting now")
		os.Exit(2)
	}()

	if c.OpsAddr != "" {
		if err := o.serve(log, c.OpsAddr); err != nil {
			fmt.Fprintf(os.Stderr, "chatbus: %v\n", err)
			os.Exit(1)
		}
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	err := kctx.Run(log, o)
	o.close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "chatbus: %v\n", err)
		os.Exit(1)
	}
}

func newLogger(level, format string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
