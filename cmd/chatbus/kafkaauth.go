package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chatbus/chatbus/broker"
	"github.com/chatbus/chatbus/kafkabus"
)

// authDirName holds the embedded broker's credentials, one file per user.
const authDirName = "kafka-auth"

// adminUser is the embedded broker's superuser, for operators' tools.
const adminUser = "admin"

// credentials returns the password of each user of the embedded broker —
// admin and one per role — made on first use and kept in DATA_DIR/kafka-auth/
// USER.conf (0600), in the properties format kcat -F and librdkafka read.
func credentials(dataDir string) (map[string]string, error) {
	dir := filepath.Join(dataDir, authDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--kafka-auth: %w", err)
	}
	users := []string{adminUser}
	for _, r := range kafkabus.Roles {
		users = append(users, string(r))
	}
	out := map[string]string{}
	for _, u := range users {
		path := filepath.Join(dir, u+".conf")
		text, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			b := make([]byte, 24)
			rand.Read(b)
			text = []byte(fmt.Sprintf("# The Kafka user %q of chatbus's embedded broker (--kafka-auth): kcat -F %s -b HOST:PORT …\n"+
				"security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=%s\nsasl.password=%s\n",
				u, path, u, hex.EncodeToString(b)))
			err = writeNew(path, text)
		}
		if err != nil {
			return nil, fmt.Errorf("--kafka-auth: %w", err)
		}
		pw := property(text, "sasl.password")
		if pw == "" {
			return nil, fmt.Errorf("--kafka-auth: %s has no sasl.password", path)
		}
		out[u] = pw
	}
	return out, nil
}

// property returns the value of key in a properties file's text.
func property(text []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// brokerUsers are the users of the embedded broker: admin, a superuser,
// and one per role with exactly the role's ACLs on these topics.
func brokerUsers(passwords map[string]string, topics kafkabus.Topics, group string) []broker.User {
	users := []broker.User{{Name: adminUser, Password: passwords[adminUser], Superuser: true}}
	for _, r := range kafkabus.Roles {
		u := broker.User{Name: string(r), Password: passwords[string(r)]}
		for _, a := range topics.ACLs(r, group) {
			u.ACLs = append(u.ACLs, kfake.ACL{Resource: a.Resource, Name: a.Name,
				Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: a.Operation, Allow: true})
		}
		users = append(users, u)
	}
	return users
}

// asRole returns conn logging in as role's user of the embedded broker.
func asRole(conn kafkabus.Conn, passwords map[string]string, role kafkabus.Role) (kafkabus.Conn, error) {
	if passwords == nil {
		return conn, nil
	}
	mech, err := kafkabus.NewSASL("scram-sha-512", string(role), passwords[string(role)])
	conn.SASL = mech
	return conn, err
}

// checkExposure refuses to serve the broker beyond this machine without
// authentication, unless told to.
func (f brokerFlags) checkExposure() error {
	if f.KafkaAuth && f.KafkaNoAuth {
		return errors.New("--kafka-auth and --kafka-no-auth contradict each other: choose one")
	}
	host, _, err := net.SplitHostPort(f.KafkaAddr)
	if err != nil {
		return fmt.Errorf("--kafka-addr %q: %w", f.KafkaAddr, err)
	}
	if f.KafkaAuth || f.KafkaNoAuth || loopback(host) {
		return nil
	}
	return fmt.Errorf("--kafka-addr %s listens beyond this machine, and without authentication anyone who reaches it reads every topic and acts as anyone: "+
		"add --kafka-auth (SASL/SCRAM, with credentials made in DATA_DIR/%s/), or --kafka-no-auth if the network is yours alone", f.KafkaAddr, authDirName)
}

// loopback tells whether host names only this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
