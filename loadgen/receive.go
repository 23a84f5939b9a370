package loadgen

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// receive reads a stream's events until it ends, and accounts for every
// message of this run it brings: a duplicate (a seq of a room this stream
// has had), or a delivery with its latency.
func (b *bench) receive(s *stream) {
	seen := seqTracker{}
	var msg struct {
		RoomID      int64  `json:"roomId"`
		Seq         int64  `json:"seq"`
		ClientMsgID string `json:"clientMsgId"`
	}
	prefix := b.run + "-"
	s.read(func(name string, data []byte) bool {
		if name != "message" {
			return true
		}
		at := b.since()
		msg.ClientMsgID = ""
		if json.Unmarshal(data, &msg) != nil || !strings.HasPrefix(msg.ClientMsgID, prefix) {
			return true // not a message of this run
		}
		n, err := strconv.ParseUint(msg.ClientMsgID[len(prefix):], 10, 64)
		if err != nil {
			return true
		}
		if !seen.first(msg.RoomID, msg.Seq) {
			b.duplicated.Add(1)
			return true
		}
		rec := b.ledger.get(n, false)
		if rec == nil {
			return true
		}
		rec.delivered.Add(1)
		b.delivered.Add(1)
		if rec.measured.Load() {
			b.deliveries.Add(1)
			b.latency.record(at - time.Duration(rec.due.Load()))
		}
		return true
	})
	if !b.closing.Load() {
		b.streamsEnded.Add(1)
	}
}
