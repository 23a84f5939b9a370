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
	kafkaSecurityFlags
}

// kafkaSecurityFlags say how to reach a cluster that wants TLS or SASL
// (the embedded broker serves plain TCP without SASL).
type kafkaSecurityFlags struct {
	KafkaTLS           bool   `help:"Connect to the brokers over TLS, checking their certificates against the system's CAs (or --kafka-ca)." name:"kafka-tls"`
	KafkaCA            string `help:"PEM file of the CA certificates that signed the brokers' certificates (implies --kafka-tls)." name:"kafka-ca" type:"path"`
	KafkaCert          string `help:"PEM file of a client certificate, for brokers that ask for one (with --kafka-key; implies --kafka-tls)." name:"kafka-cert" type:"path"`
	KafkaKey           string `help:"PEM file of the client certificate's private key." name:"kafka-key" type:"path"`
	KafkaTLSServerName string `help:"Name the brokers' certificates must carry, when it is not the host in --brokers." name:"kafka-tls-server-name"`
	KafkaTLSInsecure   bool   `help:"Do not check the brokers' certificates (for tests only: anyone on the way can read and change the traffic)." name:"kafka-tls-insecure"`
	KafkaSASL          string `help:"SASL mechanism: plain, scram-sha-256 or scram-sha-512 (none when empty). PLAIN sends the password as it is: use it over TLS." name:"kafka-sasl"`
	KafkaUser          string `help:"SASL user name." name:"kafka-user"`
	KafkaPassword      string `help:"SASL password; give it by the environment rather than on the command line, where other users of the machine can read it." name:"kafka-password"`
}

type backendFlags struct {
	DB            string        `help:"Database: a SQLite file path (default: DATA_DIR/chatbus.db), or a PostgreSQL URL (postgres://user:password@host:5432/db?sslmode=…)."`
	Group         string        `help:"Consumer group of the backends." default:"chatbus-backend"`
	InstanceID    string        `help:"Static group member id, unique per backend: restarted with the same id, the backend takes its partitions back at once instead of after the 10 s session timeout (chatbus run derives one from its data directory)." name:"instance-id"`
	GroupProtocol string        `help:"Consumer group protocol: classic, or consumer (KIP-848, Kafka 4.0+: the broker assigns the partitions; see docs/operations.md)." default:"classic" enum:"classic,consumer" name:"group-protocol"`
	HashParallel  int           `help:"How many password hashes may run at once (each holds 19 MiB)." default:"0"`
	Timeout       time.Duration `help:"Time limit for serving one request." default:"30s"`
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
