package kafkabus

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASLMechanisms are the mechanisms NewSASL knows, as an operator names them.
var SASLMechanisms = []string{"plain", "scram-sha-256", "scram-sha-512"}

// NewSASL returns the SASL mechanism named (plain, scram-sha-256 or
// scram-sha-512, in any case) for user and password. PLAIN sends the
// password as it is, so use it only over TLS; SCRAM never sends it.
func NewSASL(mechanism, user, password string) (sasl.Mechanism, error) {
	if user == "" {
		return nil, fmt.Errorf("SASL %s needs a user name", mechanism)
	}
	switch strings.ToLower(mechanism) {
	case "plain":
		return plain.Auth{User: user, Pass: password}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism(), nil
	case "scram-sha-512":
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q: want one of %s", mechanism, strings.Join(SASLMechanisms, ", "))
}
