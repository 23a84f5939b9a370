package loadgen_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
	"github.com/chatbus/chatbus/sqlite"
	"github.com/chatbus/chatbus/web"
)

// startSystem runs the whole system in this process, wired as `chatbus
// run` wires it — embedded broker, backend with its outbox relay, web
// gateway reading the events — with loopback exempt from the limits, and
// returns the gateway's URL.
func startSystem(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stops []func()
	t.Cleanup(func() {
		cancel()
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	})
	goRun := func(f func()) {
		done := make(chan struct{})
		go func() { f(); close(done) }()
		stops = append(stops, func() { <-done })
	}

	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stops = append(stops, b.Close)
	keys, err := kafkabus.NewKeys([]byte("the load tests' bus secret, 32 bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	conn, topics := kafkabus.Conn{Brokers: b.Addrs(), Keys: keys}, kafkabus.Topics{Replication: 1}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	err = kafkabus.EnsureTopics(ctx, kadm.NewClient(cl), topics.Specs())
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}

	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "chatbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	stops = append(stops, func() { store.Close() })
	svc := chatbus.NewMessenger(store, chatbus.NewHasher(chatbus.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 4))
	relay, err := kafkabus.NewRelay(conn, topics, store)
	if err != nil {
		t.Fatal(err)
	}
	svc.Wrote = relay.Poke
	goRun(func() { relay.Run(ctx) })
	srv, err := kafkabus.NewServer(kafkabus.ServerConfig{Conn: conn, Topics: topics}, svc)
	if err != nil {
		t.Fatal(err)
	}
	goRun(func() { srv.Run(ctx) })

	client, err := kafkabus.NewClient(kafkabus.ClientConfig{Conn: conn, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	stops = append(stops, client.Close)
	gw, err := web.New(web.Config{Service: client, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: gw}}
	hs.Start()
	stops = append(stops, hs.Close)
	goRun(func() { gw.Run(ctx) })                                            // its end ends the streams, before hs.Close
	goRun(func() { kafkabus.Feed{Conn: conn, Topics: topics}.Run(ctx, gw) }) // streams wait for it
	return hs.URL
}
