package main

import (
	"time"
)

// Flags shared by several commands; each is also a CHATBUS_… variable.
type dataFlags struct {
	DataDir string `help:"Directory for the embedded broker's log and the SQLite database." default:"./data" type:"path"`
}

type brokerFlags struct {
	KafkaAddr   string `help:"Listen address of the embedded broker. Use 0.0.0.0:PORT only if other machines must reach it." default:"127.0.0.1:9092"`
	SyncWrites  bool   `help:"fsync every batch the embedded broker writes (safe against power loss, much slower)."`
	BrokerCount int    `help:"Number of brokers in the embedded cluster (replication is metadata only)." default:"1" name:"broker-count"`
}

type kafkaFlags struct {
	Brokers         []string      `help:"Seed brokers of an external Kafka cluster (host:port,…). When set, no embedded broker is started." sep:","`
	ClientID        string        `help:"Kafka client id." default:"chatbus"`
	TopicPrefix     string        `help:"Prefix of every topic name." default:""`
	Replication     int16         `help:"Replication factor of created topics (0: 1 on the embedded broker, 3 on a cluster)." default:"0"`
	Partitions      []string      `help:"Partition count overrides, as topic=count (topic without prefix), e.g. user-add-chat-request=12." sep:","`
	Retention       time.Duration `help:"How long request and reply topics keep records." default:"168h"`
	SecretRetention time.Duration `help:"How long login and sign-up requests (which hold passwords) are kept." default:"1h"`
}

type backendFlags struct {
	DB           string        `help:"Database: a SQLite file path (default: DATA_DIR/chatbus.db), or a PostgreSQL URL (postgres://user:password@host:5432/db?sslmode=…)."`
	Group        string        `help:"Consumer group of the backends." default:"chatbus-backend"`
	HashParallel int           `help:"How many password hashes may run at once (each holds 19 MiB)." default:"0"`
	Timeout      time.Duration `help:"Time limit for serving one request." default:"30s"`
}

type webFlags struct {
	HTTPAddr       string        `help:"Listen address of the web gateway." default:"127.0.0.1:8080" name:"http-addr"`
	SessionIdle    time.Duration `help:"A session ends after so long unused." default:"24h"`
	SessionMax     time.Duration `help:"A session ends so long after login." default:"720h"`
	RequestTimeout time.Duration `help:"How long the gateway waits for the backend's reply." default:"10s"`
	LimitsExempt   []string      `help:"Addresses (CIDR) exempt from rate and connection limits, e.g. 127.0.0.1/32 for a local load test." sep:","`
	TrustedOrigins []string      `help:"Origins allowed to make cross-origin requests (behind a proxy that rewrites Host), e.g. https://chat.example.com." sep:","`
	SecureCookies  bool          `help:"Mark cookies Secure though served over HTTP (behind a proxy that ends TLS)."`
	TrustedProxies []string      `help:"Reverse proxies (CIDR) whose X-Forwarded-For names the client, for rate limits." sep:","`
	StreamsPerUser int           `help:"Open event streams allowed per user (devices and tabs)." default:"10"`
	StreamsPerAddr int           `help:"Open event streams allowed per address before login." default:"20"`
	ResumeEvents   int           `help:"Recent events held so that a reconnecting stream is given what it missed." default:"50000"`
	ResumeWindow   time.Duration `help:"How far back a starting frontend reads events, so that streams cut before a restart resume." default:"10m"`
}

type runCmd struct {
	dataFlags
	brokerFlags
	kafkaFlags
	backendFlags
	webFlags
}

type frontendCmd struct {
	kafkaFlags
	webFlags
}

type brokerCmd struct {
	dataFlags
	brokerFlags
}

type backendCmd struct {
	dataFlags
	kafkaFlags
	backendFlags
}
