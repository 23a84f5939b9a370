// Command kafkacluster runs Apache Kafka (the jars kafka/pom.xml names,
// resolved by Maven into a cache on first use) as a local KRaft cluster on
// free loopback ports, for trying chatbus on the real thing:
//
//	kafkacluster up [-brokers 3] [-dir DIR]   start it in the background; prints the bootstrap servers
//	kafkacluster down [-dir DIR]              stop it (SIGTERM, then SIGKILL after 30 s)
//	kafkacluster jars                         resolve the jars only; prints their directory
//
// DIR (default ./data/kafka-cluster) keeps each broker's configuration,
// data and log; `up` on a DIR whose cluster was stopped starts it again on
// its ports with its data. `make kafka-up` and `make kafka-down` run it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/chatbus/chatbus/internal/kafkacluster"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "data/kafka-cluster", "the cluster's directory: configuration, data and log of each broker")
	brokers := fs.Int("brokers", 3, "number of brokers (the first three are also the KRaft controllers)")
	fs.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "jars":
		start := time.Now()
		lib, err := kafkacluster.Jars(ctx, os.Stderr)
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stderr, "kafkacluster: Apache Kafka %s's jars are in %s (%v)\n", kafkacluster.Version, lib, time.Since(start).Round(time.Millisecond))
		fmt.Println(lib)
	case "up":
		start := time.Now()
		lib, err := kafkacluster.Jars(ctx, os.Stderr)
		if err != nil {
			fail(err)
		}
		c, err := kafkacluster.Start(ctx, kafkacluster.Config{Brokers: *brokers, Dir: abs, Lib: lib, Detach: true})
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stderr, "kafkacluster: Apache Kafka %s, %d brokers ready in %v; logs in %s/node-*/server.log; stop with `make kafka-down`\n",
			kafkacluster.Version, len(c.IDs()), time.Since(start).Round(time.Millisecond), abs)
		fmt.Println(c.Bootstrap())
	case "down":
		n, err := kafkacluster.Down(abs, 30*time.Second)
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stderr, "kafkacluster: stopped %d brokers of %s\n", n, abs)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kafkacluster up [-brokers 3] [-dir DIR] | down [-dir DIR] | jars")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kafkacluster:", err)
	os.Exit(1)
}
