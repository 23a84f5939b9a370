package chatbus

import (
	"context"
	"encoding/json"
)

// Event kinds: what a user hears of at once, on their event stream.
const (
	EventFriend = "friend" // someone added you as a friend; Data is a Friend (them)
	// EventRoom is a room event: a room was opened; Data is the Room, To
	// its members.
	EventRoom   = "room"
	EventStatus = "status" // a friend changed their status message; Data is a Friend
	// EventMessage is a room event: a message was posted; Data is the
	// Message, To the room's members when it was committed.
	EventMessage = "message"
	// EventRead is a room event: a member read further; Data is their
	// ReadState, To the room's members. (A message event tells the same of
	// its writer, who has read up to it.)
	EventRead = "read"
)

// Event is news for one user. It is saved in the same transaction as the
// change it tells of (a transactional outbox), so it exists if and only if
// the change was committed; a relay then publishes it, at least once.
type Event struct {
	ID     int64           `json:"-"` // its place in the outbox
	Kind   string          `json:"kind"`
	UserID string          `json:"userId,omitempty"` // whom a user event is for
	RoomID int64           `json:"roomId,omitempty"` // the room of a room event …
	To     []string        `json:"to,omitempty"`     // … and whom it is for
	Data   json.RawMessage `json:"data"`
}

func newEvent(kind, userID string, data any) (Event, error) {
	b, err := json.Marshal(data)
	return Event{Kind: kind, UserID: userID, Data: b}, err
}

// EventSink receives the published events as a log: a few partitions, each
// an ordered run of offsets. Where an event sits in the log is what lets a
// client that reconnects be given exactly the events it missed: the web
// gateway keeps the recent ones and names each position by the offsets
// reached in every partition.
type EventSink interface {
	// Start comes before the first Deliver (and again if the reader starts
	// over). epoch names the log, and changes if it is ever recreated, which
	// voids every position in the old one; from holds, for each partition,
	// the offset from which every event will be delivered, and until where
	// the partition ended then: the events in between are the past.
	Start(epoch string, from, until []int64)
	// Deliver hands over the event at offset of partition part — every
	// record, an unreadable one as a zero Event. Each partition's events
	// come in offset order; offsets may skip.
	Deliver(part int, offset int64, ev Event)
}

// saveEvents saves events of one kind and payload for several users.
func saveEvents(ctx context.Context, tx Tx, kind string, userIDs []string, data any) error {
	if len(userIDs) == 0 {
		return nil
	}
	evs := make([]Event, 0, len(userIDs))
	for _, id := range userIDs {
		ev, err := newEvent(kind, id, data)
		if err != nil {
			return err
		}
		evs = append(evs, ev)
	}
	return tx.InsertEvents(ctx, evs)
}
