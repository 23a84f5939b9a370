package kafkabus

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// HeaderSignature carries the HMAC-SHA256 of a record the backend (or a
// frontend, for sessions) published: "v1.<key id>.<mac, base64url>". Who
// reads replies, events and sessions accepts a record only when it checks,
// so that whoever can write those topics but does not hold the bus secret
// cannot forge a login or an event. Requests are not signed: any Kafka
// client may drive the backend, as the seed's console producer did.
const HeaderSignature = "signature"

// SecretBytes is the length of a bus secret chatbus makes, and the least it
// accepts.
const SecretBytes = 32

// Keys are the bus secrets shared by backends and frontends: the first signs,
// every one verifies, so that a secret can be rotated without stopping the
// bus (add the new one second everywhere, then move it first, then drop the
// old one). A nil *Keys signs nothing and verifies nothing.
type Keys struct {
	ids  []string     // per key: the first 4 bytes of SHA-256(key), hex
	macs []*sync.Pool // per key: *recordMAC
}

// NewKeys returns the keys of the secrets, the first one signing.
func NewKeys(secrets ...[]byte) (*Keys, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no bus secret")
	}
	k := &Keys{}
	for i, s := range secrets {
		if len(s) < SecretBytes {
			return nil, fmt.Errorf("bus secret %d has %d bytes, fewer than %d", i+1, len(s), SecretBytes)
		}
		sum := sha256.Sum256(s)
		k.ids = append(k.ids, hex.EncodeToString(sum[:4]))
		key := bytes.Clone(s)
		k.macs = append(k.macs, &sync.Pool{New: func() any { return &recordMAC{h: hmac.New(sha256.New, key)} }})
	}
	return k, nil
}

// ParseKeys reads a bus secret file: one secret per line, in hex (at least
// 64 digits), the signing one first; empty lines and lines starting with #
// are skipped.
func ParseKeys(text []byte) (*Keys, error) {
	var secrets [][]byte
	for n, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("line %d is not a secret in hex", n+1)
		}
		secrets = append(secrets, b)
	}
	return NewKeys(secrets...)
}

// NewSecret returns a new random secret, as a line of a bus secret file.
func NewSecret() string {
	b := make([]byte, SecretBytes)
	rand.Read(b)
	return hex.EncodeToString(b) + "\n"
}

// mac is the signature of a record by key i. It covers the version, the key
// id, the topic (so that a reply cannot be moved to another operation's
// topic, nor an event to another topic), the key, the value (a tombstone
// apart from an empty value) and the correlation id (so that a reply cannot
// be replayed as the answer to another request); each field is
// length-prefixed so that no two records share a message.
func (k *Keys) mac(i int, r *kgo.Record) []byte {
	m := k.macs[i].Get().(*recordMAC)
	defer k.macs[i].Put(m)
	m.h.Reset()
	m.h.Write([]byte("chatbus-record-v1\x00"))
	m.field([]byte(k.ids[i]))
	m.field([]byte(r.Topic))
	m.field(r.Key)
	if r.Value == nil {
		m.h.Write([]byte{0})
	} else {
		m.h.Write([]byte{1})
		m.field(r.Value)
	}
	m.field([]byte(header(r, HeaderCorrelationID)))
	return m.h.Sum(nil)
}

// recordMAC is an HMAC of one key, kept in a pool: making one costs more
// than the MAC of a small record.
type recordMAC struct {
	h   hash.Hash
	len [8]byte
}

// field writes b, prefixed by its length.
func (m *recordMAC) field(b []byte) {
	binary.BigEndian.PutUint64(m.len[:], uint64(len(b)))
	m.h.Write(m.len[:])
	m.h.Write(b)
}

// Sign adds the record's signature by the first key, replacing any other.
// Sign it when topic, key, value and headers are final.
func (k *Keys) Sign(r *kgo.Record) {
	if k == nil {
		return
	}
	r.Headers = deleteHeader(r.Headers, HeaderSignature)
	v := "v1." + k.ids[0] + "." + base64.RawURLEncoding.EncodeToString(k.mac(0, r))
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderSignature, Value: []byte(v)})
}

// Reasons a record is refused, as metrics and logs name them.
const (
	refusedUnsigned  = "unsigned"
	refusedSignature = "bad_signature"
	refusedTopic     = "wrong_topic"
)

// Verify returns "" when the record carries one valid signature by one of
// the keys, else why not.
func (k *Keys) Verify(r *kgo.Record) string {
	var sig []byte
	n := 0
	for _, h := range r.Headers {
		if h.Key == HeaderSignature {
			sig, n = h.Value, n+1
		}
	}
	if n == 0 {
		return refusedUnsigned
	}
	if k == nil || n > 1 {
		return refusedSignature
	}
	version, rest, _ := strings.Cut(string(sig), ".")
	id, mac, _ := strings.Cut(rest, ".")
	if version != "v1" {
		return refusedSignature
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return refusedSignature
	}
	for i, kid := range k.ids {
		if kid == id && hmac.Equal(got, k.mac(i, r)) {
			return ""
		}
	}
	return refusedSignature
}

func deleteHeader(hs []kgo.RecordHeader, key string) []kgo.RecordHeader {
	out := hs[:0:0]
	for _, h := range hs {
		if h.Key != key {
			out = append(out, h)
		}
	}
	return out
}

// refusals logs refused records at most once per interval per kind, with
// how many were refused since: a flood of forgeries must not flood the log.
type refusals struct {
	log   *slog.Logger
	what  string // "reply", "event", "session"
	every time.Duration

	mu     sync.Mutex
	last   time.Time
	missed int
}

func (f *refusals) refused(r *kgo.Record, reason string) {
	f.mu.Lock()
	now := time.Now()
	if now.Sub(f.last) < f.every {
		f.missed++
		f.mu.Unlock()
		return
	}
	missed := f.missed
	f.last, f.missed = now, 0
	f.mu.Unlock()
	f.log.Warn("refused a "+f.what+": not signed with the bus secret, or not on the topic asked", "topic", r.Topic, "partition", r.Partition,
		"offset", r.Offset, "reason", reason, "alsoRefusedSinceLastLog", missed)
}

func newRefusals(log *slog.Logger, what string) *refusals {
	return &refusals{log: log, what: what, every: 10 * time.Second}
}
