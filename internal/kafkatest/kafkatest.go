// Package kafkatest holds what tests of several packages do on Kafka.
package kafkatest

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/kafkabus"
)

// TryWrite writes one record to topic through conn, and says why it could
// not (nil: it could), within 5 s.
func TryWrite(conn kafkabus.Conn, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(conn.Opts(), kgo.DisableIdempotentWrite())...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(`{"isSuccess":true}`)}).FirstErr()
}
