package chatbus

import "context"

// Read receipts, KakaoTalk style: each member of a room has a read position
// (the seq of the last message they have read). A room shows each user how
// many messages they have not read, and each message shows how many members
// have not read it yet. Positions only move forward; posting a message
// moves the writer's to it, since you have read what you write.

func (m *Messenger) MarkRead(ctx context.Context, userID string, roomID, seq int64) (ReadState, error) {
	id, err := normalizedUserID(userID)
	if err != nil {
		return ReadState{}, err
	}
	switch {
	case roomID <= 0:
		return ReadState{}, Errorf(CodeInvalid, "roomId must be a positive number")
	case seq < 0:
		return ReadState{}, Errorf(CodeInvalid, "seq must not be negative")
	}
	return update(ctx, m, "read", func(tx Tx) (ReadState, error) {
		room, err := tx.Room(ctx, roomID)
		if ErrorCode(err) == CodeNotFound {
			return ReadState{}, Errorf(CodeNotFound, "room %d does not exist", roomID)
		} else if err != nil {
			return ReadState{}, err
		}
		me := memberOf(room, id)
		if me == nil {
			return ReadState{}, Errorf(CodeForbidden, "you are not a member of room %d", roomID)
		}
		// A seq past the last message is clamped, not refused: a client
		// only shows seqs that exist, and a stale or hurried one should
		// not turn "I have read everything" into an error.
		// (A new variable: the store may run this function again, and the
		// next run must start from the seq asked for.)
		upTo := min(seq, room.LastSeq)
		st := ReadState{RoomID: roomID, UserID: id, ReadSeq: max(me.ReadSeq, upTo)}
		st.Unread = room.LastSeq - st.ReadSeq
		moved, err := tx.SetReadSeq(ctx, roomID, id, upTo)
		if err != nil || !moved {
			return st, err // a read that changes nothing tells no one
		}
		ev, err := newEvent(EventRead, "", st)
		if err != nil {
			return ReadState{}, err
		}
		// Every member hears of it: the others to update their counters,
		// the reader for their other devices.
		ev.RoomID, ev.To = roomID, memberIDs(room)
		return st, tx.InsertEvents(ctx, []Event{ev})
	})
}

func memberOf(r Room, userID string) *Member {
	for i := range r.Members {
		if r.Members[i].ID == userID {
			return &r.Members[i]
		}
	}
	return nil
}

func memberIDs(r Room) []string {
	ids := make([]string, len(r.Members))
	for i, mem := range r.Members {
		ids[i] = mem.ID
	}
	return ids
}

// countUnread sets each message's Unread from the members' read positions:
// the members other than its writer who have not read up to it.
func countUnread(msgs []Message, reads map[string]int64) {
	for i := range msgs {
		n := 0
		for id, seq := range reads {
			if id != msgs[i].WriterID && seq < msgs[i].Seq {
				n++
			}
		}
		msgs[i].Unread = n
	}
}

// withReads counts the unread of msgs, all of one room, as of now.
func withReads(ctx context.Context, tx Tx, roomID int64, msgs []Message) ([]Message, error) {
	reads, err := tx.ReadSeqs(ctx, roomID)
	if err != nil {
		return nil, err
	}
	countUnread(msgs, reads)
	return msgs, nil
}

// seenBy returns the room as userID sees it in their room list: with their
// unread count, and the unread count of its last message.
func seenBy(r Room, userID string) Room {
	reads := make(map[string]int64, len(r.Members))
	for _, mem := range r.Members {
		reads[mem.ID] = mem.ReadSeq
	}
	r.Unread = max(0, r.LastSeq-reads[userID])
	if r.LastMessage != nil {
		last := []Message{*r.LastMessage}
		countUnread(last, reads)
		r.LastMessage = &last[0]
	}
	return r
}
