package chatbus

import (
	"context"
	"time"
)

// SessionRecord is a browser session as the frontends share it. Key is the
// SHA-256 of the session's id: the id itself is only in the browser's
// cookie, so that whoever reads the records cannot use them.
type SessionRecord struct {
	Key     [32]byte
	User    User      // the user, as of UserAt (a status change renews it)
	UserAt  time.Time // when User was read
	Created time.Time // the login: the session ends SessionMax after it
	Seen    time.Time // its last use known when the record was written
	// Ended says the user logged out: the session is over everywhere, and
	// no later record of it brings it back.
	Ended bool
}

// SessionLog is where frontends keep their sessions, so that a session is
// valid on every frontend and outlives any one of them.
type SessionLog interface {
	// Save makes rec durable: once it returns, every frontend reads it.
	Save(ctx context.Context, rec SessionRecord) error
	// Run hands every record to apply — those saved before, then new ones,
	// each at least once, in order per key — until ctx is done.
	Run(ctx context.Context, apply func(SessionRecord)) error
	// Sync returns once every record saved before it was called has been
	// handed to apply.
	Sync(ctx context.Context) error
}
