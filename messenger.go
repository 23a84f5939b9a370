package chatbus

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Messenger implements Service over a Store: the messenger's rules live here
// and nowhere else.
type Messenger struct {
	store  Store
	hasher *Hasher
	// Now is the clock; tests may replace it. Times are UTC, in milliseconds,
	// so that every store gives back exactly what it was given.
	Now func() time.Time
	// Wrote, when set, is called after each committed write (the relay
	// publishes the outbox's new events at once). It must not block.
	Wrote func()
}

var _ Service = (*Messenger)(nil)

// NewMessenger returns a Messenger over store that hashes passwords with hasher.
func NewMessenger(store Store, hasher *Hasher) *Messenger {
	return &Messenger{store: store, hasher: hasher,
		Now: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }}
}

type idempotencyKey struct{}

// WithIdempotencyKey marks ctx so that a write operation done under it takes
// effect at most once: the first call's result is saved in the same
// transaction as its effect, and a later call with the same key and operation
// returns that result without doing the work again. Failed calls save nothing.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// outcomeKey is the key of op's saved result under ctx's idempotency key,
// "" when ctx has none.
func outcomeKey(ctx context.Context, op string) string {
	key, _ := ctx.Value(idempotencyKey{}).(string)
	if key == "" {
		return ""
	}
	return op + "/" + key
}

// savedOutcome reads into out the result saved under key; ok tells whether
// there was one.
func savedOutcome(ctx context.Context, tx Tx, key string, out any) (ok bool, err error) {
	saved, err := tx.Outcome(ctx, key)
	if ErrorCode(err) == CodeNotFound {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, json.Unmarshal(saved, out)
}

// update runs fn in a write transaction, at most once per idempotency key.
func update[T any](ctx context.Context, m *Messenger, op string, fn func(Tx) (T, error)) (T, error) {
	key := outcomeKey(ctx, op)
	var out T
	err := m.store.Update(ctx, func(tx Tx) error {
		// The store may run this function again (after a serialization
		// failure): each run starts afresh and has no effect outside tx.
		var zero T
		out = zero
		if key != "" {
			if ok, err := savedOutcome(ctx, tx, key, &out); ok || err != nil {
				return err
			}
		}
		var err error
		if out, err = fn(tx); err != nil || key == "" {
			return err
		}
		saved, err := json.Marshal(out)
		if err != nil {
			return fmt.Errorf("encode outcome: %w", err)
		}
		return tx.SaveOutcome(ctx, key, saved, m.Now())
	})
	if err == nil && m.Wrote != nil && ctx.Value(inBatch{}) == nil {
		m.Wrote()
	}
	return out, err
}

type inBatch struct{}

// Batch runs fn with a context under which the messenger's writes share one
// transaction, if the store is a Batcher: a write done under it is durable
// only once Batch has returned nil, and fn's error undoes them all. The
// backend serves a poll's chat messages so: one commit for many.
func (m *Messenger) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	b, ok := m.store.(Batcher)
	if !ok {
		return fn(ctx)
	}
	err := b.Batch(ctx, func(ctx context.Context) error { return fn(context.WithValue(ctx, inBatch{}, true)) })
	if err == nil && m.Wrote != nil {
		m.Wrote()
	}
	return err
}

// replay returns the saved result of op under ctx's idempotency key, if any.
func replay[T any](ctx context.Context, m *Messenger, op string) (out T, ok bool, err error) {
	key := outcomeKey(ctx, op)
	if key == "" {
		return out, false, nil
	}
	err = m.store.View(ctx, func(tx Tx) (err error) {
		ok, err = savedOutcome(ctx, tx, key, &out)
		return err
	})
	return out, ok, err
}

func view[T any](ctx context.Context, m *Messenger, fn func(Tx) (T, error)) (T, error) {
	var out T
	err := m.store.View(ctx, func(tx Tx) (err error) {
		out, err = fn(tx)
		return err
	})
	return out, err
}

// withoutHash returns u without its password hash, which never leaves the
// backend: a result must be the same whether it was just made or replayed
// from its saved outcome, which does not hold the hash.
func withoutHash(u User) User {
	u.PasswordHash = ""
	return u
}

// userMustExist returns the user, or CodeNotFound naming the id.
func userMustExist(ctx context.Context, tx Tx, id string) (User, error) {
	u, err := tx.User(ctx, id)
	if ErrorCode(err) == CodeNotFound {
		return u, Errorf(CodeNotFound, "user %q does not exist", id)
	}
	return u, err
}

func normalizedUserID(id string) (string, error) {
	id = NormalizeUserID(id)
	return id, ValidateUserID(id)
}

func (m *Messenger) SignUp(ctx context.Context, req SignUp) (User, error) {
	u := User{ID: NormalizeUserID(req.UserID), Email: strings.ToLower(strings.TrimSpace(req.Email)),
		Name: strings.TrimSpace(req.Name)}
	for _, err := range []error{ValidateUserID(u.ID), validatePassword(req.Password),
		validateEmail(u.Email), userNameField.check(u.Name)} {
		if err != nil {
			return User{}, err
		}
	}
	// A taken id is refused before the costly hash (the insert checks
	// again, inside its transaction) — unless this is a request done
	// already, which is answered as the first time.
	if first, ok, err := replay[User](ctx, m, "signup"); err != nil || ok {
		return first, err
	}
	if _, err := view(ctx, m, func(tx Tx) (User, error) { return tx.User(ctx, u.ID) }); err == nil {
		return User{}, Errorf(CodeConflict, "user id %q is taken", u.ID)
	}
	hash, err := m.hasher.Hash(ctx, req.Password)
	if err != nil {
		return User{}, err
	}
	u.PasswordHash = hash
	u.JoinedAt = m.Now()
	return update(ctx, m, "signup", func(tx Tx) (User, error) {
		if err := tx.InsertUser(ctx, u); err != nil {
			return User{}, err
		}
		return withoutHash(u), nil
	})
}

var errBadLogin = Errorf(CodeUnauthenticated, "wrong user id or password")

func (m *Messenger) LogIn(ctx context.Context, userID, password string) (User, error) {
	id := NormalizeUserID(userID)
	u, err := view(ctx, m, func(tx Tx) (User, error) { return tx.User(ctx, id) })
	if err != nil && ErrorCode(err) != CodeNotFound {
		return User{}, err
	}
	// A missing user is checked against an empty hash, which costs the same
	// as a real check: the answer and its timing do not tell the two apart.
	ok, cerr := m.hasher.Check(ctx, u.PasswordHash, password)
	if cerr != nil {
		return User{}, cerr
	}
	if err != nil {
		// Sign-up and login come on different topics, so a login sent right
		// after its sign-up may start first. Look once more, now that the
		// time of a check has passed.
		if u, err = view(ctx, m, func(tx Tx) (User, error) { return tx.User(ctx, id) }); err == nil {
			ok, cerr = m.hasher.Check(ctx, u.PasswordHash, password)
			if cerr != nil {
				return User{}, cerr
			}
		}
	}
	if err != nil || !ok {
		return User{}, errBadLogin
	}
	return update(ctx, m, "login", func(tx Tx) (User, error) {
		u, err := tx.User(ctx, id)
		if err != nil {
			return User{}, err
		}
		now := m.Now()
		u.LoginAt = &now
		return withoutHash(u), tx.UpdateUser(ctx, u)
	})
}

func (m *Messenger) LogOut(ctx context.Context, userID string) (User, error) {
	id, err := normalizedUserID(userID)
	if err != nil {
		return User{}, err
	}
	return update(ctx, m, "logout", func(tx Tx) (User, error) {
		u, err := userMustExist(ctx, tx, id)
		if err != nil {
			return User{}, err
		}
		now := m.Now()
		u.LogoutAt = &now
		return withoutHash(u), tx.UpdateUser(ctx, u)
	})
}

func (m *Messenger) SetStatus(ctx context.Context, userID, status string) (User, error) {
	id, err := normalizedUserID(userID)
	if err != nil {
		return User{}, err
	}
	status = strings.TrimSpace(status)
	if err := userStatusField.check(status); err != nil {
		return User{}, err
	}
	return update(ctx, m, "status", func(tx Tx) (User, error) {
		u, err := userMustExist(ctx, tx, id)
		if err != nil {
			return User{}, err
		}
		u.Status = status
		if err := tx.UpdateUser(ctx, u); err != nil {
			return User{}, err
		}
		followers, err := tx.Followers(ctx, id)
		if err != nil {
			return User{}, err
		}
		return withoutHash(u), saveEvents(ctx, tx, EventStatus, followers, friendOf(u))
	})
}

func (m *Messenger) AddFriends(ctx context.Context, userID string, friendIDs []string) ([]Friend, error) {
	id, err := normalizedUserID(userID)
	if err != nil {
		return nil, err
	}
	ids, err := normalizeIDs("friendId", friendIDs, MaxFriendsPerCall)
	if err != nil {
		return nil, err
	}
	for _, f := range ids {
		if f == id {
			return nil, Errorf(CodeInvalid, "you cannot add yourself as a friend")
		}
	}
	return update(ctx, m, "friends", func(tx Tx) ([]Friend, error) {
		me, err := userMustExist(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		found, err := tx.Users(ctx, ids)
		if err != nil {
			return nil, err
		}
		// Which of several ids are unknown is not told: that would make
		// one call a test of MaxFriendsPerCall ids for existence. Adding
		// one id at a time (as people do) still says when it is unknown.
		if missing := absent(ids, func(f string) bool { _, ok := found[f]; return ok }); len(missing) > 0 {
			if len(ids) == 1 {
				return nil, Errorf(CodeNotFound, "no user with id %s", quoteList(missing))
			}
			return nil, Errorf(CodeNotFound, "one or more of these ids are not users; add them one by one to see which")
		}
		current, err := tx.Friends(ctx, id)
		if err != nil {
			return nil, err
		}
		already := friendSet(current)
		if dup := absent(ids, func(f string) bool { return !already[f] }); len(dup) > 0 {
			return nil, Errorf(CodeConflict, "already friends with %s", quoteList(dup))
		}
		if err := tx.InsertFriends(ctx, id, ids, m.Now()); err != nil {
			return nil, err
		}
		if err := saveEvents(ctx, tx, EventFriend, ids, friendOf(me)); err != nil {
			return nil, err
		}
		return tx.Friends(ctx, id)
	})
}

func (m *Messenger) Friends(ctx context.Context, userID string) ([]Friend, error) {
	id, err := normalizedUserID(userID)
	if err != nil {
		return nil, err
	}
	return view(ctx, m, func(tx Tx) ([]Friend, error) {
		if _, err := userMustExist(ctx, tx, id); err != nil {
			return nil, err
		}
		return tx.Friends(ctx, id)
	})
}

func (m *Messenger) OpenRoom(ctx context.Context, req OpenRoom) (Room, error) {
	id, err := normalizedUserID(req.UserID)
	if err != nil {
		return Room{}, err
	}
	ids, err := normalizeIDs("friendId", req.FriendIDs, MaxRoomMembers-1)
	if err != nil {
		return Room{}, err
	}
	name := strings.TrimSpace(req.Name)
	if err := roomNameField.check(name); err != nil {
		return Room{}, err
	}
	for _, f := range ids {
		if f == id {
			return Room{}, Errorf(CodeInvalid, "you are in the room already; invite friends only")
		}
	}
	direct := len(ids) == 1 && name == ""
	return update(ctx, m, "room", func(tx Tx) (Room, error) {
		if _, err := userMustExist(ctx, tx, id); err != nil {
			return Room{}, err
		}
		if direct {
			// The direct room of two people is theirs, whoever opened it:
			// either may open it again, friend or not (friendship is one-way).
			r, err := tx.DirectRoom(ctx, id, ids[0])
			if ErrorCode(err) != CodeNotFound {
				return seenBy(r, id), err // the existing room, or a failure
			}
		}
		friends, err := tx.Friends(ctx, id)
		if err != nil {
			return Room{}, err
		}
		mine := friendSet(friends)
		// Whether a stranger exists is not told: rooms are for friends,
		// and the answer would test up to 99 ids for existence.
		if strangers := absent(ids, func(f string) bool { return mine[f] }); len(strangers) > 0 {
			return Room{}, Errorf(CodeForbidden, "not on your friend list: %s", quoteList(strangers))
		}
		now := m.Now()
		r := Room{Name: name, Direct: direct, CreatedAt: now, LastActivityAt: now,
			Members: []Member{{ID: id}}}
		for _, f := range ids {
			r.Members = append(r.Members, Member{ID: f})
		}
		roomID, err := tx.InsertRoom(ctx, r)
		if err != nil {
			return Room{}, err
		}
		room, err := tx.Room(ctx, roomID)
		if err != nil {
			return Room{}, err
		}
		// Every member hears of it, in the room's own order (a room event);
		// the opener too, for their other devices.
		ev, err := newEvent(EventRoom, "", room)
		if err != nil {
			return Room{}, err
		}
		ev.RoomID, ev.To = room.ID, memberIDs(room)
		return seenBy(room, id), tx.InsertEvents(ctx, []Event{ev})
	})
}

func (m *Messenger) Rooms(ctx context.Context, userID string) ([]Room, error) {
	id, err := normalizedUserID(userID)
	if err != nil {
		return nil, err
	}
	return view(ctx, m, func(tx Tx) ([]Room, error) {
		if _, err := userMustExist(ctx, tx, id); err != nil {
			return nil, err
		}
		rooms, err := tx.Rooms(ctx, id)
		for i, r := range rooms {
			if r.LastMessage != nil {
				r.LastMessage.Message = preview(r.LastMessage.Message)
			}
			rooms[i] = seenBy(r, id)
		}
		return rooms, err
	})
}

// preview cuts a message for the room list, which shows its beginning.
func preview(s string) string {
	if utf8.RuneCountInString(s) <= MaxPreviewLen {
		return s
	}
	return string([]rune(s)[:MaxPreviewLen-1]) + "…"
}

func (m *Messenger) PostMessage(ctx context.Context, req PostMessage) (Message, error) {
	writer, err := normalizedUserID(req.WriterID)
	if err != nil {
		return Message{}, Errorf(CodeInvalid, "writerId: %s", ErrorMessage(err))
	}
	if req.RoomID <= 0 {
		return Message{}, Errorf(CodeInvalid, "roomId must be a positive number")
	}
	// Text pasted from Windows or sent by a form has CRLF line ends.
	req.Message = strings.ReplaceAll(strings.ReplaceAll(req.Message, "\r\n", "\n"), "\r", "\n")
	if err := messageField.check(req.Message); err != nil {
		return Message{}, err
	}
	if err := clientMsgIDField.check(req.ClientMsgID); err != nil {
		return Message{}, err
	}
	return update(ctx, m, "chat", func(tx Tx) (Message, error) {
		// The members' read positions tell whether the writer is one, whom
		// the message reaches, and how many have not read it: one query on
		// the hot path.
		reads, err := tx.ReadSeqs(ctx, req.RoomID)
		if err != nil {
			return Message{}, err
		}
		if _, ok := reads[writer]; !ok { // say precisely why not
			if _, err := userMustExist(ctx, tx, writer); err != nil {
				return Message{}, err
			}
			return Message{}, mustBeMember(ctx, tx, req.RoomID, writer)
		}
		if req.ClientMsgID != "" {
			first, err := tx.MessageByClientID(ctx, req.RoomID, writer, req.ClientMsgID)
			if err == nil { // the first result of a resend
				msgs := []Message{first}
				countUnread(msgs, reads)
				return msgs[0], nil
			} else if ErrorCode(err) != CodeNotFound {
				return Message{}, err
			}
		}
		msg, err := tx.InsertMessage(ctx, Message{RoomID: req.RoomID, WriterID: writer,
			Message: req.Message, CreatedAt: m.Now(), ClientMsgID: req.ClientMsgID})
		if err != nil {
			return Message{}, err
		}
		// You have read what you write (and all before it).
		if _, err := tx.SetReadSeq(ctx, req.RoomID, writer, msg.Seq); err != nil {
			return Message{}, err
		}
		reads[writer] = msg.Seq
		msgs := []Message{msg}
		countUnread(msgs, reads)
		// The members now are those who get it, live.
		ev, err := newEvent(EventMessage, "", msgs[0])
		if err != nil {
			return Message{}, err
		}
		ev.RoomID, ev.To = req.RoomID, slices.Sorted(maps.Keys(reads))
		return msgs[0], tx.InsertEvents(ctx, []Event{ev})
	})
}

func (m *Messenger) Messages(ctx context.Context, userID string, roomID int64, f MessageFilter) ([]Message, error) {
	id, err := normalizedUserID(userID)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Limit < 0 || f.Before < 0 || f.After < 0:
		return nil, Errorf(CodeInvalid, "limit, before and after must not be negative")
	case f.Limit == 0:
		f.Limit = DefaultPageLimit
	case f.Limit > MaxPageLimit:
		f.Limit = MaxPageLimit
	}
	return view(ctx, m, func(tx Tx) ([]Message, error) {
		if err := mustBeMember(ctx, tx, roomID, id); err != nil {
			return nil, err
		}
		msgs, err := tx.Messages(ctx, roomID, f)
		if err != nil {
			return nil, err
		}
		return withReads(ctx, tx, roomID, msgs)
	})
}

// mustBeMember returns CodeNotFound for a missing room and CodeForbidden for
// a user who is not one of its members.
func mustBeMember(ctx context.Context, tx Tx, roomID int64, userID string) error {
	ok, err := tx.IsMember(ctx, roomID, userID)
	if err != nil || ok {
		return err
	}
	if _, err := tx.Room(ctx, roomID); err != nil {
		if ErrorCode(err) == CodeNotFound {
			return Errorf(CodeNotFound, "room %d does not exist", roomID)
		}
		return err
	}
	return Errorf(CodeForbidden, "you are not a member of room %d", roomID)
}

func friendOf(u User) Friend { return Friend{ID: u.ID, Name: u.Name, Status: u.Status} }

func friendSet(fs []Friend) map[string]bool {
	set := make(map[string]bool, len(fs))
	for _, f := range fs {
		set[f.ID] = true
	}
	return set
}

// absent returns the ids for which has is false.
func absent(ids []string, has func(string) bool) []string {
	var out []string
	for _, id := range ids {
		if !has(id) {
			out = append(out, id)
		}
	}
	return out
}

func quoteList(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}

// PruneOutcomes forgets the results of idempotent operations older than
// age; a request redelivered after that would be done again.
func (m *Messenger) PruneOutcomes(ctx context.Context, age time.Duration) (n int64, err error) {
	err = m.store.Update(ctx, func(tx Tx) error {
		n, err = tx.PruneOutcomes(ctx, m.Now().Add(-age))
		return err
	})
	return n, err
}
