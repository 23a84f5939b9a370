package sqlstore

import (
	"context"
	"time"
)

// Observer is told of every transaction a Store ran: its kind ("update",
// "view" or "batch"), how long it took (begin to commit or rollback) and
// whether it failed. The wiring sets it to feed a metric; sqlstore itself
// knows nothing of metrics.
type Observer func(kind string, d time.Duration, err error)

func (s *Store) observe(kind string, start time.Time, err error) {
	if s.Observe != nil {
		s.Observe(kind, time.Since(start), err)
	}
}

// Ping tells whether both pools reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.Write.PingContext(ctx); err != nil {
		return err
	}
	if s.Read != s.Write {
		return s.Read.PingContext(ctx)
	}
	return nil
}
