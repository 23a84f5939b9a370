package chatbus

import (
	"context"
	"time"
)

// Store keeps the messenger's state. Its implementations (sqlite, postgres)
// pass one shared test suite (package storetest).
type Store interface {
	// Update runs fn in one serializable write transaction: every write fn
	// makes applies, or none does (fn's error, a cancelled ctx, a crash).
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction that sees one consistent snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// Close releases the store's connections.
	Close() error
}

// Batcher is a Store that can group writes: every Update made with the
// context Batch hands to fn runs as a savepoint of one transaction, which
// commits when fn returns nil. Many small writes then share one commit (on
// SQLite, one write of each page they touch instead of one per write). An
// Update in a batch is all-or-nothing as ever, but durable only once Batch
// has returned nil; fn's error, or a failed commit, undoes them all.
type Batcher interface {
	Batch(ctx context.Context, fn func(ctx context.Context) error) error
}

// Tx is what a transaction can read and write. Lookups of a missing row
// return an *Error with CodeNotFound; inserts that break a uniqueness rule
// return CodeConflict. Writes inside View fail.
type Tx interface {
	// User returns the user with this id.
	User(ctx context.Context, id string) (User, error)
	// Users returns the users among ids that exist, by id.
	Users(ctx context.Context, ids []string) (map[string]User, error)
	// InsertUser adds a user. CodeConflict names the taken field (id or e-mail).
	InsertUser(ctx context.Context, u User) error
	// UpdateUser stores a user's status message and login and logout dates.
	UpdateUser(ctx context.Context, u User) error

	// Friends lists userID's friends, ordered by name then id.
	Friends(ctx context.Context, userID string) ([]Friend, error)
	// InsertFriends adds one-way friendships from userID to each id.
	InsertFriends(ctx context.Context, userID string, friendIDs []string, at time.Time) error

	// InsertRoom creates a room with its members and returns its id.
	InsertRoom(ctx context.Context, r Room) (int64, error)
	// Room returns a room with its members (with their read positions) and
	// last message.
	Room(ctx context.Context, id int64) (Room, error)
	// DirectRoom returns the direct room of two users.
	DirectRoom(ctx context.Context, a, b string) (Room, error)
	// Rooms lists a user's rooms with members and last message, by last
	// activity, newest first (then by id, newest first).
	Rooms(ctx context.Context, userID string) ([]Room, error)
	// IsMember tells whether userID is a member of the room.
	IsMember(ctx context.Context, roomID int64, userID string) (bool, error)
	// SetReadSeq moves a member's read position forward to seq; a position
	// at or past seq stays (moved is false). CodeNotFound for a user who
	// is not a member of the room.
	SetReadSeq(ctx context.Context, roomID int64, userID string, seq int64) (moved bool, err error)
	// ReadSeqs returns the read position of each member of a room, by id.
	ReadSeqs(ctx context.Context, roomID int64) (map[string]int64, error)

	// InsertMessage gives m the room's next seq (last + 1), saves it and moves
	// the room's last activity to m.CreatedAt; it returns m with its seq. A
	// ClientMsgID already used by the same writer in the room is CodeConflict.
	InsertMessage(ctx context.Context, m Message) (Message, error)
	// MessageByClientID finds a writer's message by its client message id.
	MessageByClientID(ctx context.Context, roomID int64, writerID, clientMsgID string) (Message, error)
	// Messages returns a page of a room's history in ascending seq order.
	Messages(ctx context.Context, roomID int64, f MessageFilter) ([]Message, error)

	// Outcome returns the result saved under an idempotency key.
	Outcome(ctx context.Context, key string) ([]byte, error)
	// SaveOutcome saves the result of the operation done under key.
	SaveOutcome(ctx context.Context, key string, result []byte, at time.Time) error
	// PruneOutcomes deletes outcomes saved before a time; it returns how many.
	PruneOutcomes(ctx context.Context, before time.Time) (int64, error)

	// RoomMembers lists the ids of a room's members, in the room's order.
	RoomMembers(ctx context.Context, roomID int64) ([]string, error)
	// Followers lists the users who have userID on their friend list.
	Followers(ctx context.Context, userID string) ([]string, error)

	// InsertEvents adds events to the outbox, in order; each gets an ID
	// greater than any given before it. Where writers run side by side
	// (PostgreSQL), IDs are given in insert order, not commit order: an
	// event may commit after one with a greater ID was read and published.
	InsertEvents(ctx context.Context, evs []Event) error
	// PendingEvents returns up to limit events of the outbox, by ID.
	PendingEvents(ctx context.Context, limit int) ([]Event, error)
	// DeleteEvents removes the events with these IDs (those published), and
	// no other: an event of a smaller ID that committed later stays until
	// it is published. IDs not in the outbox are ignored.
	DeleteEvents(ctx context.Context, ids []int64) error
	// ClaimRelay takes or renews the lease on publishing the outbox: true
	// when holder holds it until the time until — it was free, expired
	// before now, or holder's already. Claiming until a time already past
	// gives it up.
	ClaimRelay(ctx context.Context, holder string, now, until time.Time) (bool, error)
}
