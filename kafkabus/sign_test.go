package kafkabus_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/kafkabus"
)

func signedRecord(k *kafkabus.Keys) *kgo.Record {
	r := &kgo.Record{Topic: "login-response", Key: []byte("alice"), Value: []byte(`{"isSuccess":true}`),
		Headers: []kgo.RecordHeader{{Key: kafkabus.HeaderCorrelationID, Value: []byte("c1")}}}
	k.Sign(r)
	return r
}

// TestSignature: a signature checks only for the record it was made for —
// another topic, key, value or correlation id fails, and so do a missing,
// doubled or foreign one; a tombstone is not an empty value.
func TestSignature(t *testing.T) {
	t.Parallel()
	other, err := kafkabus.NewKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if why := testKeys.Verify(signedRecord(testKeys)); why != "" {
		t.Fatalf("a signed record: %s", why)
	}
	for name, change := range map[string]func(r *kgo.Record){
		"topic":          func(r *kgo.Record) { r.Topic = "user-search-friend-response" },
		"key":            func(r *kgo.Record) { r.Key = []byte("bob") },
		"value":          func(r *kgo.Record) { r.Value = []byte(`{"isSuccess":false}`) },
		"tombstone":      func(r *kgo.Record) { r.Value = nil },
		"correlation id": func(r *kgo.Record) { r.Headers[0].Value = []byte("c2") },
		"no signature":   func(r *kgo.Record) { r.Headers = r.Headers[:1] },
		"two signatures": func(r *kgo.Record) { r.Headers = append(r.Headers, r.Headers[1]) },
		"another secret": func(r *kgo.Record) { other.Sign(r) },
		"garbage":        func(r *kgo.Record) { r.Headers[1].Value = []byte("v1.x.y") },
	} {
		r := signedRecord(testKeys)
		change(r)
		if why := testKeys.Verify(r); why == "" {
			t.Errorf("changed %s: the signature still checks", name)
		}
	}
	empty := &kgo.Record{Topic: "sessions", Key: []byte("k"), Value: []byte{}}
	testKeys.Sign(empty)
	empty.Value = nil
	if testKeys.Verify(empty) == "" {
		t.Error("the signature of an empty value checks for a tombstone")
	}
	// Plain JSON still: a reply's value is the backend's JSON, unchanged.
	if r := signedRecord(testKeys); string(r.Value) != `{"isSuccess":true}` {
		t.Errorf("signing changed the value: %s", r.Value)
	}
}

// TestSecretRotation: keys sign with their first secret and verify with any,
// so that a secret is replaced in three steps without refusing a record.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	oldS, newS := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	mk := func(s ...[]byte) *kafkabus.Keys {
		k, err := kafkabus.NewKeys(s...)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	old, both, next, newOnly := mk(oldS), mk(oldS, newS), mk(newS, oldS), mk(newS)
	// Step 1: every process learns the new secret, still signing with the old.
	for _, k := range []*kafkabus.Keys{old, both, next} {
		if why := k.Verify(signedRecord(both)); why != "" {
			t.Errorf("step 1: %s", why)
		}
	}
	// Step 2: they sign with the new one; those not yet moved still accept.
	for _, k := range []*kafkabus.Keys{both, next} {
		if why := k.Verify(signedRecord(next)); why != "" {
			t.Errorf("step 2: %s", why)
		}
	}
	// Step 3: the old one is dropped, and with it what it signs.
	if why := newOnly.Verify(signedRecord(old)); why == "" {
		t.Error("step 3: a record signed with the dropped secret still checks")
	}
	if _, err := kafkabus.NewKeys([]byte("short")); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	if _, err := kafkabus.ParseKeys([]byte("# comment\n\n" + strings.Repeat("ab", 32) + "\n" + kafkabus.NewSecret())); err != nil {
		t.Errorf("a file of two secrets: %v", err)
	}
	for _, bad := range []string{"", "# only a comment\n", "not hex\n", strings.Repeat("ab", 31)} {
		if _, err := kafkabus.ParseKeys([]byte(bad)); err == nil {
			t.Errorf("secret file %q was accepted", bad)
		}
	}
}

// TestRepliesAreSigned: every reply the backend writes carries a
// signature that checks, beside its plain JSON, which kcat still reads.
func TestRepliesAreSigned(t *testing.T) {
	s := startSystem(t)
	signUp(t, s.client, "alice")
	recs := s.readAll(t, s.topics.Response(kafkabus.OpSignUp))
	if len(recs) == 0 {
		t.Fatal("no reply")
	}
	for _, r := range recs {
		if why := testKeys.Verify(r); why != "" {
			t.Errorf("reply at %d: %s", r.Offset, why)
		}
		if !bytes.HasPrefix(r.Value, []byte("{")) {
			t.Errorf("reply at %d is not plain JSON: %q", r.Offset, r.Value)
		}
	}
}

// BenchmarkSign and BenchmarkVerify: the cost per reply or event of a
// typical size.
func BenchmarkSign(b *testing.B) {
	r := signedRecord(testKeys)
	r.Value = bytes.Repeat([]byte("x"), 300)
	b.ReportAllocs()
	for b.Loop() {
		testKeys.Sign(r)
	}
}

func BenchmarkVerify(b *testing.B) {
	r := signedRecord(testKeys)
	r.Value = bytes.Repeat([]byte("x"), 300)
	testKeys.Sign(r)
	b.ReportAllocs()
	for b.Loop() {
		if testKeys.Verify(r) != "" {
			b.Fatal("does not check")
		}
	}
}
