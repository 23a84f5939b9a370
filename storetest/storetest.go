// Package storetest is the one test suite that every chatbus.Store
// implementation must pass. An implementation's tests call Run with a
// function that opens a fresh, empty store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) chatbus.Store { … })
//	}
package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatbus/chatbus"
)

// Run runs the suite. Each subtest calls open for a fresh, empty store, which
// Run closes when the subtest ends (open must not close it itself).
func Run(t *testing.T, open func(t *testing.T) chatbus.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s chatbus.Store)
	}{
		{"UserRoundTrip", testUserRoundTrip},
		{"UserNotFound", testUserNotFound},
		{"Users", testUsers},
		{"InsertUserConflicts", testInsertUserConflicts},
		{"UpdateUser", testUpdateUser},
		{"Friends", testFriends},
		{"InsertRoomAndRoom", testInsertRoomAndRoom},
		{"DirectRoom", testDirectRoom},
		{"IsMember", testIsMember},
		{"Rooms", testRooms},
		{"InsertMessage", testInsertMessage},
		{"SeqUnderConcurrency", testSeqUnderConcurrency},
		{"SeqGivenBackOnRollback", testSeqGivenBackOnRollback},
		{"ClientMsgID", testClientMsgID},
		{"Messages", testMessages},
		{"Outcomes", testOutcomes},
		{"Followers", testFollowers},
		{"RoomMembers", testRoomMembers},
		{"ReadSeqs", testReadSeqs},
		{"SetReadSeqRollsBack", testSetReadSeqRollsBack},
		{"Outbox", testOutbox},
		{"OutboxDeletesExactly", testOutboxDeletesExactly},
		{"UpdateIsAtomic", testUpdateIsAtomic},
		{"Batch", testBatch},
		{"ClaimRelay", testClaimRelay},
		{"UpdateCancelled", testUpdateCancelled},
		{"UpdatePanics", testUpdatePanics},
		{"ViewRejectsWrites", testViewRejectsWrites},
		{"ViewSnapshot", testViewSnapshot},
		{"TimesRoundTrip", testTimesRoundTrip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// t0 is the suite's epoch: a UTC time in whole milliseconds, as the
// messenger gives the stores.
var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)

// at returns t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ptr[T any](v T) *T { return &v }

// sameTime compares times as instants and requires the same location, so
// that a store giving back a local time fails.
var sameTime = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && a.Location() == b.Location() })

func diff(want, got any) string { return cmp.Diff(want, got, sameTime) }

// update runs fn in a write transaction and fails the test on error.
func update(t *testing.T, s chatbus.Store, fn func(tx chatbus.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// get runs fn in a read transaction and fails the test on error.
func get[T any](t *testing.T, s chatbus.Store, fn func(tx chatbus.Tx) (T, error)) T {
	t.Helper()
	var out T
	err := s.View(t.Context(), func(tx chatbus.Tx) (err error) {
		out, err = fn(tx)
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return out
}

// tryUpdate runs fn in a write transaction and returns its error.
func tryUpdate(t *testing.T, s chatbus.Store, fn func(tx chatbus.Tx) error) error {
	t.Helper()
	return s.Update(t.Context(), fn)
}

func wantCode(t *testing.T, err error, code chatbus.Code) {
	t.Helper()
	if got := chatbus.ErrorCode(err); got != code {
		t.Errorf("error %v: code %q, want %q", err, got, code)
	}
}

// names gives each seeded user a name; ids not listed are named after themselves.
var names = map[string]string{"a": "Ann", "b": "Bea", "c": "Cid", "d": "Dan"}

func newUser(id string) chatbus.User {
	name := names[id]
	if name == "" {
		name = strings.ToUpper(id)
	}
	return chatbus.User{ID: id, Email: id + "@example.com", Name: name,
		PasswordHash: "$argon2id$hash-of-" + id, JoinedAt: t0}
}

func addUsers(t *testing.T, s chatbus.Store, ids ...string) {
	t.Helper()
	update(t, s, func(tx chatbus.Tx) error {
		for _, id := range ids {
			if err := tx.InsertUser(t.Context(), newUser(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

func member(id string) chatbus.Member { return chatbus.Member{ID: id, Name: newUser(id).Name} }

func members(ids ...string) []chatbus.Member {
	out := make([]chatbus.Member, len(ids))
	for i, id := range ids {
		out[i] = member(id)
	}
	return out
}

// addRoom creates a room of the members (only their ids are set) at a time.
func addRoom(t *testing.T, s chatbus.Store, name string, direct bool, created time.Time, ids ...string) int64 {
	t.Helper()
	r := chatbus.Room{Name: name, Direct: direct, CreatedAt: created, LastActivityAt: created}
	for _, id := range ids {
		r.Members = append(r.Members, chatbus.Member{ID: id})
	}
	var id int64
	update(t, s, func(tx chatbus.Tx) (err error) {
		id, err = tx.InsertRoom(t.Context(), r)
		return err
	})
	if id <= 0 {
		t.Fatalf("InsertRoom returned id %d", id)
	}
	return id
}

// post inserts a message in its own transaction and returns it with its seq.
func post(t *testing.T, s chatbus.Store, roomID int64, writer, text string, created time.Time) chatbus.Message {
	t.Helper()
	var m chatbus.Message
	update(t, s, func(tx chatbus.Tx) (err error) {
		m, err = tx.InsertMessage(t.Context(), chatbus.Message{RoomID: roomID, WriterID: writer, Message: text, CreatedAt: created})
		return err
	})
	return m
}

func room(t *testing.T, s chatbus.Store, id int64) chatbus.Room {
	t.Helper()
	return get(t, s, func(tx chatbus.Tx) (chatbus.Room, error) { return tx.Room(t.Context(), id) })
}

func seqs(ms []chatbus.Message) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func seqRange(from, to int64) []int64 {
	out := []int64{}
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func testUserRoundTrip(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	full := chatbus.User{ID: "alice", Email: "alice@example.com", Name: "Alice Ärger", Status: "at lunch ☕",
		JoinedAt: at(1), LoginAt: ptr(at(2)), LogoutAt: ptr(at(3)),
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5"}
	bare := chatbus.User{ID: "bob", Email: "bob@example.com", Name: "Bob", JoinedAt: at(-5), PasswordHash: "h"}
	update(t, s, func(tx chatbus.Tx) error {
		return errors.Join(tx.InsertUser(ctx, full), tx.InsertUser(ctx, bare))
	})
	for _, want := range []chatbus.User{full, bare} {
		got := get(t, s, func(tx chatbus.Tx) (chatbus.User, error) { return tx.User(ctx, want.ID) })
		if d := diff(want, got); d != "" {
			t.Errorf("User(%q) (-want +got):\n%s", want.ID, d)
		}
	}
	// A write transaction reads its own writes.
	update(t, s, func(tx chatbus.Tx) error {
		u := newUser("carol")
		if err := tx.InsertUser(ctx, u); err != nil {
			return err
		}
		got, err := tx.User(ctx, "carol")
		if err != nil {
			return err
		}
		if d := diff(u, got); d != "" {
			t.Errorf("User read in the inserting transaction (-want +got):\n%s", d)
		}
		return nil
	})
}

func testUserNotFound(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a")
	err := s.View(ctx, func(tx chatbus.Tx) error {
		_, err := tx.User(ctx, "nobody")
		return err
	})
	wantCode(t, err, chatbus.CodeNotFound)
	err = s.Update(ctx, func(tx chatbus.Tx) error {
		_, err := tx.User(ctx, "nobody")
		return err
	})
	wantCode(t, err, chatbus.CodeNotFound)
}

func testUsers(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b", "c")
	got := get(t, s, func(tx chatbus.Tx) (map[string]chatbus.User, error) {
		return tx.Users(ctx, []string{"c", "nobody", "a"})
	})
	want := map[string]chatbus.User{"a": newUser("a"), "c": newUser("c")}
	if d := diff(want, got); d != "" {
		t.Errorf("Users (-want +got):\n%s", d)
	}
	for _, ids := range [][]string{nil, {}, {"nobody", "nemo"}} {
		got := get(t, s, func(tx chatbus.Tx) (map[string]chatbus.User, error) { return tx.Users(ctx, ids) })
		if len(got) != 0 {
			t.Errorf("Users(%q) = %v, want none", ids, got)
		}
	}
}

func testInsertUserConflicts(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	addUsers(t, s, "alice")

	idTaken := chatbus.User{ID: "alice", Email: "other@example.com", Name: "Other", PasswordHash: "x", JoinedAt: at(9)}
	err := tryUpdate(t, s, func(tx chatbus.Tx) error { return tx.InsertUser(ctx, idTaken) })
	wantCode(t, err, chatbus.CodeConflict)
	if msg := strings.ToLower(chatbus.ErrorMessage(err)); !strings.Contains(msg, "id") || strings.Contains(msg, "mail") {
		t.Errorf("id conflict says %q; want it to name the id, not the e-mail", msg)
	}

	mailTaken := chatbus.User{ID: "bob", Email: "alice@example.com", Name: "Bob", PasswordHash: "x", JoinedAt: at(9)}
	err = tryUpdate(t, s, func(tx chatbus.Tx) error { return tx.InsertUser(ctx, mailTaken) })
	wantCode(t, err, chatbus.CodeConflict)
	if msg := strings.ToLower(chatbus.ErrorMessage(err)); !strings.Contains(msg, "mail") {
		t.Errorf("e-mail conflict says %q; want it to name the e-mail", msg)
	}

	both := alice
	both.Name = "Impostor"
	err = tryUpdate(t, s, func(tx chatbus.Tx) error { return tx.InsertUser(ctx, both) })
	wantCode(t, err, chatbus.CodeConflict)

	got := get(t, s, func(tx chatbus.Tx) (chatbus.User, error) { return tx.User(ctx, "alice") })
	if d := diff(alice, got); d != "" {
		t.Errorf("alice changed by conflicting inserts (-want +got):\n%s", d)
	}
	err = s.View(ctx, func(tx chatbus.Tx) error { _, err := tx.User(ctx, "bob"); return err })
	wantCode(t, err, chatbus.CodeNotFound)
}

func testUpdateUser(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	orig := newUser("a")

	changed := orig
	changed.Status = "busy"
	changed.LoginAt, changed.LogoutAt = ptr(at(5)), ptr(at(6))
	// Only the status and the dates are stored; the rest is not UpdateUser's.
	changed.Name, changed.Email, changed.PasswordHash, changed.JoinedAt = "X", "x@example.com", "", at(99)
	update(t, s, func(tx chatbus.Tx) error { return tx.UpdateUser(ctx, changed) })

	want := orig
	want.Status, want.LoginAt, want.LogoutAt = "busy", ptr(at(5)), ptr(at(6))
	got := get(t, s, func(tx chatbus.Tx) (chatbus.User, error) { return tx.User(ctx, "a") })
	if d := diff(want, got); d != "" {
		t.Errorf("after UpdateUser (-want +got):\n%s", d)
	}

	// Dates can be cleared again, and the status emptied.
	update(t, s, func(tx chatbus.Tx) error { return tx.UpdateUser(ctx, orig) })
	got = get(t, s, func(tx chatbus.Tx) (chatbus.User, error) { return tx.User(ctx, "a") })
	if d := diff(orig, got); d != "" {
		t.Errorf("after resetting (-want +got):\n%s", d)
	}
	// The other user is untouched.
	got = get(t, s, func(tx chatbus.Tx) (chatbus.User, error) { return tx.User(ctx, "b") })
	if d := diff(newUser("b"), got); d != "" {
		t.Errorf("other user (-want +got):\n%s", d)
	}

	err := tryUpdate(t, s, func(tx chatbus.Tx) error { return tx.UpdateUser(ctx, newUser("nobody")) })
	wantCode(t, err, chatbus.CodeNotFound)
}

func testFriends(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	// Names tie so that the id decides; all start upper-case so that no
	// collation can disagree with plain byte order.
	users := []chatbus.User{newUser("me"),
		{ID: "zed", Email: "zed@example.com", Name: "Bea", JoinedAt: t0},
		{ID: "bea", Email: "bea@example.com", Name: "Bea", Status: "away", JoinedAt: t0},
		{ID: "cid", Email: "cid@example.com", Name: "Cid", JoinedAt: t0},
		{ID: "yan", Email: "yan@example.com", Name: "Ada", JoinedAt: t0},
		{ID: "out", Email: "out@example.com", Name: "Aaron", JoinedAt: t0},
	}
	update(t, s, func(tx chatbus.Tx) error {
		for _, u := range users {
			if err := tx.InsertUser(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})
	friends := func(id string) []chatbus.Friend {
		t.Helper()
		return get(t, s, func(tx chatbus.Tx) ([]chatbus.Friend, error) { return tx.Friends(ctx, id) })
	}
	if got := friends("me"); len(got) != 0 {
		t.Errorf("Friends before any: %v, want none", got)
	}

	update(t, s, func(tx chatbus.Tx) error { return tx.InsertFriends(ctx, "me", []string{"zed", "cid", "bea"}, at(1)) })
	update(t, s, func(tx chatbus.Tx) error { return tx.InsertFriends(ctx, "me", []string{"yan"}, at(2)) })
	want := []chatbus.Friend{
		{ID: "yan", Name: "Ada"},
		{ID: "bea", Name: "Bea", Status: "away"},
		{ID: "zed", Name: "Bea"},
		{ID: "cid", Name: "Cid"},
	}
	if d := diff(want, friends("me")); d != "" {
		t.Errorf("Friends (-want +got):\n%s", d)
	}
	// Friendship is one-way.
	if got := friends("zed"); len(got) != 0 {
		t.Errorf("Friends(zed) = %v, want none: friendship is one-way", got)
	}
	// The list shows the friends' current status.
	update(t, s, func(tx chatbus.Tx) error {
		u := users[3]
		u.Status = "coding"
		return tx.UpdateUser(ctx, u)
	})
	want[3].Status = "coding"
	if d := diff(want, friends("me")); d != "" {
		t.Errorf("Friends after a status change (-want +got):\n%s", d)
	}

	err := tryUpdate(t, s, func(tx chatbus.Tx) error { return tx.InsertFriends(ctx, "me", []string{"bea"}, at(3)) })
	wantCode(t, err, chatbus.CodeConflict)
	// A failed batch adds none of its ids.
	err = tryUpdate(t, s, func(tx chatbus.Tx) error { return tx.InsertFriends(ctx, "me", []string{"out", "bea"}, at(3)) })
	wantCode(t, err, chatbus.CodeConflict)
	if d := diff(want, friends("me")); d != "" {
		t.Errorf("Friends after failed inserts (-want +got):\n%s", d)
	}
}

func testInsertRoomAndRoom(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b", "c")
	id := addRoom(t, s, "Team ☺", false, at(1), "c", "a", "b")
	want := chatbus.Room{ID: id, Name: "Team ☺", Members: members("c", "a", "b"),
		CreatedAt: at(1), LastActivityAt: at(1)}
	if d := diff(want, room(t, s, id)); d != "" {
		t.Errorf("Room (-want +got):\n%s", d)
	}
	// The same members and name make a new room.
	id2 := addRoom(t, s, "Team ☺", false, at(2), "c", "a", "b")
	if id2 == id {
		t.Errorf("second InsertRoom returned the first room's id %d", id)
	}
	want2 := want
	want2.ID, want2.CreatedAt, want2.LastActivityAt = id2, at(2), at(2)
	if d := diff(want2, room(t, s, id2)); d != "" {
		t.Errorf("second Room (-want +got):\n%s", d)
	}
	// A room in a transaction that rolls back does not exist.
	var gone int64
	errBoom := errors.New("boom")
	err := tryUpdate(t, s, func(tx chatbus.Tx) (err error) {
		gone, err = tx.InsertRoom(ctx, chatbus.Room{Members: members("a"), CreatedAt: at(3), LastActivityAt: at(3)})
		return errors.Join(err, errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	for _, missing := range []int64{gone, id2 + 1000, 0, -1} {
		err := s.View(ctx, func(tx chatbus.Tx) error { _, err := tx.Room(ctx, missing); return err })
		wantCode(t, err, chatbus.CodeNotFound)
	}
}

func testDirectRoom(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b", "c")
	// A two-member group room is not a direct room.
	group := addRoom(t, s, "", false, at(1), "a", "c")
	id := addRoom(t, s, "", true, at(2), "b", "a")
	want := chatbus.Room{ID: id, Direct: true, Members: members("b", "a"), CreatedAt: at(2), LastActivityAt: at(2)}
	for _, pair := range [][2]string{{"a", "b"}, {"b", "a"}} {
		got := get(t, s, func(tx chatbus.Tx) (chatbus.Room, error) { return tx.DirectRoom(ctx, pair[0], pair[1]) })
		if d := diff(want, got); d != "" {
			t.Errorf("DirectRoom(%q, %q) (-want +got):\n%s", pair[0], pair[1], d)
		}
	}
	if got := room(t, s, id); !got.Direct {
		t.Errorf("Room(%d).Direct = false", id)
	}
	if got := room(t, s, group); got.Direct {
		t.Errorf("Room(%d) of a group is direct", group)
	}
	for _, pair := range [][2]string{{"a", "c"}, {"c", "a"}, {"b", "c"}, {"a", "nobody"}} {
		err := s.View(ctx, func(tx chatbus.Tx) error { _, err := tx.DirectRoom(ctx, pair[0], pair[1]); return err })
		wantCode(t, err, chatbus.CodeNotFound)
	}
	// One direct room per pair, whichever way round.
	err := tryUpdate(t, s, func(tx chatbus.Tx) error {
		_, err := tx.InsertRoom(ctx, chatbus.Room{Direct: true, Members: members("a", "b"), CreatedAt: at(3), LastActivityAt: at(3)})
		return err
	})
	wantCode(t, err, chatbus.CodeConflict)
	// Another pair may have theirs.
	ac := addRoom(t, s, "", true, at(4), "a", "c")
	got := get(t, s, func(tx chatbus.Tx) (chatbus.Room, error) { return tx.DirectRoom(ctx, "c", "a") })
	if got.ID != ac {
		t.Errorf("DirectRoom(c, a) = room %d, want %d", got.ID, ac)
	}
}

func testIsMember(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b", "c")
	r1 := addRoom(t, s, "one", false, at(1), "a", "b")
	r2 := addRoom(t, s, "two", false, at(1), "c")
	for _, c := range []struct {
		room int64
		user string
		want bool
	}{
		{r1, "a", true}, {r1, "b", true}, {r1, "c", false}, {r1, "nobody", false},
		{r2, "c", true}, {r2, "a", false}, {r2 + 1000, "a", false},
	} {
		got := get(t, s, func(tx chatbus.Tx) (bool, error) { return tx.IsMember(ctx, c.room, c.user) })
		if got != c.want {
			t.Errorf("IsMember(%d, %q) = %v, want %v", c.room, c.user, got, c.want)
		}
	}
}

func testRooms(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b", "c", "d")
	rooms := func(user string) []chatbus.Room {
		t.Helper()
		return get(t, s, func(tx chatbus.Tx) ([]chatbus.Room, error) { return tx.Rooms(ctx, user) })
	}
	if got := rooms("a"); len(got) != 0 {
		t.Errorf("Rooms before any: %v", got)
	}
	r1 := addRoom(t, s, "one", false, at(1), "a", "b")
	r2 := addRoom(t, s, "", true, at(2), "c", "a")
	r3 := addRoom(t, s, "three", false, at(3), "b", "c", "a")
	r4 := addRoom(t, s, "four", false, at(4), "b", "d")
	ids := func(rs []chatbus.Room) []int64 {
		out := []int64{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if d := diff([]int64{r3, r2, r1}, ids(rooms("a"))); d != "" {
		t.Errorf("Rooms(a) ids (-want +got):\n%s", d)
	}

	msg := post(t, s, r1, "b", "hello", at(10))
	// r5 is as recent as r1's message: the later room comes first.
	r5 := addRoom(t, s, "five", false, at(10), "a")
	got := rooms("a")
	if d := diff([]int64{r5, r1, r3, r2}, ids(got)); d != "" {
		t.Errorf("Rooms(a) ids after a message (-want +got):\n%s", d)
	}
	want := []chatbus.Room{
		{ID: r5, Name: "five", Members: members("a"), CreatedAt: at(10), LastActivityAt: at(10)},
		{ID: r1, Name: "one", Members: members("a", "b"), CreatedAt: at(1), LastSeq: 1, LastActivityAt: at(10), LastMessage: &msg},
		{ID: r3, Name: "three", Members: members("b", "c", "a"), CreatedAt: at(3), LastActivityAt: at(3)},
		{ID: r2, Direct: true, Members: members("c", "a"), CreatedAt: at(2), LastActivityAt: at(2)},
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Rooms(a) (-want +got):\n%s", d)
	}
	// Rooms and Room agree.
	for _, r := range got {
		if d := diff(room(t, s, r.ID), r); d != "" {
			t.Errorf("Rooms(a) and Room(%d) differ (-Room +Rooms):\n%s", r.ID, d)
		}
	}
	if d := diff([]int64{r4}, ids(rooms("d"))); d != "" {
		t.Errorf("Rooms(d) ids (-want +got):\n%s", d)
	}
	if d := diff([]int64{r1, r4, r3}, ids(rooms("b"))); d != "" {
		t.Errorf("Rooms(b) ids (-want +got):\n%s", d)
	}
	if got := rooms("nobody"); len(got) != 0 {
		t.Errorf("Rooms(nobody) = %v, want none", got)
	}
}

func testInsertMessage(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	r1 := addRoom(t, s, "one", false, at(1), "a", "b")
	r2 := addRoom(t, s, "two", false, at(1), "a", "b")
	in := []chatbus.Message{
		{RoomID: r1, WriterID: "a", Message: "first", CreatedAt: at(10)},
		{RoomID: r1, WriterID: "b", Message: "second\nline", CreatedAt: at(11), ClientMsgID: "c-1"},
		{RoomID: r2, WriterID: "b", Message: "other room", CreatedAt: at(12)},
		{RoomID: r1, WriterID: "a", Message: "third ☺", CreatedAt: at(13)},
		{RoomID: r2, WriterID: "a", Message: "other again", CreatedAt: at(14)},
	}
	wantSeqs := []int64{1, 2, 1, 3, 2}
	var out []chatbus.Message
	for i, m := range in {
		var got chatbus.Message
		update(t, s, func(tx chatbus.Tx) (err error) {
			got, err = tx.InsertMessage(ctx, m)
			return err
		})
		want := m
		want.Seq = wantSeqs[i]
		if d := diff(want, got); d != "" {
			t.Errorf("InsertMessage #%d (-want +got):\n%s", i, d)
		}
		out = append(out, want)
	}
	for _, c := range []struct {
		id   int64
		last chatbus.Message
	}{{r1, out[3]}, {r2, out[4]}} {
		got := room(t, s, c.id)
		if got.LastSeq != c.last.Seq || !got.LastActivityAt.Equal(c.last.CreatedAt) {
			t.Errorf("Room(%d): last seq %d at %v, want %d at %v", c.id, got.LastSeq, got.LastActivityAt, c.last.Seq, c.last.CreatedAt)
		}
		if d := diff(&c.last, got.LastMessage); d != "" {
			t.Errorf("Room(%d).LastMessage (-want +got):\n%s", c.id, d)
		}
	}
	got := get(t, s, func(tx chatbus.Tx) ([]chatbus.Message, error) {
		return tx.Messages(ctx, r1, chatbus.MessageFilter{Limit: 10})
	})
	if d := diff([]chatbus.Message{out[0], out[1], out[3]}, got); d != "" {
		t.Errorf("Messages(r1) (-want +got):\n%s", d)
	}
	// Several messages in one transaction take consecutive seqs.
	update(t, s, func(tx chatbus.Tx) error {
		for i := range 3 {
			m, err := tx.InsertMessage(ctx, chatbus.Message{RoomID: r1, WriterID: "b", Message: "batch", CreatedAt: at(20)})
			if err != nil {
				return err
			}
			if want := int64(4 + i); m.Seq != want {
				t.Errorf("batch message %d: seq %d, want %d", i, m.Seq, want)
			}
		}
		return nil
	})

	err := tryUpdate(t, s, func(tx chatbus.Tx) error {
		_, err := tx.InsertMessage(ctx, chatbus.Message{RoomID: r2 + 1000, WriterID: "a", Message: "x", CreatedAt: at(30)})
		return err
	})
	wantCode(t, err, chatbus.CodeNotFound)
}

func testSeqUnderConcurrency(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	busy := addRoom(t, s, "busy", false, at(1), "a", "b")
	quiet := addRoom(t, s, "quiet", false, at(1), "a", "b")
	const writers, perWriter = 8, 50
	const quietWriters, perQuietWriter = 2, 25
	var (
		mu  sync.Mutex
		got = map[int64][]int64{}
		wg  sync.WaitGroup
	)
	write := func(roomID int64, writer string, n int) {
		defer wg.Done()
		for i := range n {
			var m chatbus.Message
			err := s.Update(ctx, func(tx chatbus.Tx) (err error) {
				m, err = tx.InsertMessage(ctx, chatbus.Message{RoomID: roomID, WriterID: writer,
					Message: fmt.Sprintf("%s %d", writer, i), CreatedAt: at(100 + i)})
				return err
			})
			if err != nil {
				t.Errorf("concurrent InsertMessage: %v", err)
				return
			}
			mu.Lock()
			got[roomID] = append(got[roomID], m.Seq)
			mu.Unlock()
		}
	}
	for w := range writers {
		wg.Add(1)
		go write(busy, []string{"a", "b"}[w%2], perWriter)
	}
	for range quietWriters {
		wg.Add(1)
		go write(quiet, "a", perQuietWriter)
	}
	wg.Wait()

	for _, c := range []struct {
		id int64
		n  int64
	}{{busy, writers * perWriter}, {quiet, quietWriters * perQuietWriter}} {
		returned := got[c.id]
		seen := map[int64]bool{}
		for _, q := range returned {
			if seen[q] {
				t.Errorf("room %d: seq %d returned twice", c.id, q)
			}
			seen[q] = true
		}
		if int64(len(seen)) != c.n {
			t.Errorf("room %d: %d distinct seqs returned, want %d", c.id, len(seen), c.n)
		}
		for q := int64(1); q <= c.n; q++ {
			if !seen[q] {
				t.Errorf("room %d: seq %d never returned", c.id, q)
				break
			}
		}
		stored := get(t, s, func(tx chatbus.Tx) ([]chatbus.Message, error) {
			return tx.Messages(ctx, c.id, chatbus.MessageFilter{Limit: int(c.n) + 10})
		})
		if d := diff(seqRange(1, c.n), seqs(stored)); d != "" {
			t.Errorf("room %d: stored seqs (-want +got):\n%s", c.id, d)
		}
		if r := room(t, s, c.id); r.LastSeq != c.n {
			t.Errorf("room %d: LastSeq %d, want %d", c.id, r.LastSeq, c.n)
		}
	}
}

func testSeqGivenBackOnRollback(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a")
	r := addRoom(t, s, "", false, at(1), "a")
	first := post(t, s, r, "a", "kept", at(2))
	if first.Seq != 1 {
		t.Fatalf("first seq %d, want 1", first.Seq)
	}
	errBoom := errors.New("boom")
	err := tryUpdate(t, s, func(tx chatbus.Tx) error {
		m, err := tx.InsertMessage(ctx, chatbus.Message{RoomID: r, WriterID: "a", Message: "lost", CreatedAt: at(50)})
		if err != nil {
			return err
		}
		if m.Seq != 2 {
			t.Errorf("seq inside the doomed transaction %d, want 2", m.Seq)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	got := room(t, s, r)
	want := chatbus.Room{ID: r, Members: members("a"), CreatedAt: at(1), LastSeq: 1, LastActivityAt: at(2), LastMessage: &first}
	if d := diff(want, got); d != "" {
		t.Errorf("Room after rollback (-want +got):\n%s", d)
	}
	if next := post(t, s, r, "a", "next", at(3)); next.Seq != 2 {
		t.Errorf("seq after a rolled-back insert: %d, want 2", next.Seq)
	}
	stored := get(t, s, func(tx chatbus.Tx) ([]chatbus.Message, error) {
		return tx.Messages(ctx, r, chatbus.MessageFilter{Limit: 10})
	})
	if d := diff([]int64{1, 2}, seqs(stored)); d != "" {
		t.Errorf("stored seqs (-want +got):\n%s", d)
	}
	for _, m := range stored {
		if m.Message == "lost" {
			t.Errorf("rolled-back message was stored: %+v", m)
		}
	}
}

func testClientMsgID(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	r1 := addRoom(t, s, "one", false, at(1), "a", "b")
	r2 := addRoom(t, s, "two", false, at(1), "a", "b")
	insert := func(roomID int64, writer, clientID string) (chatbus.Message, error) {
		var m chatbus.Message
		err := tryUpdate(t, s, func(tx chatbus.Tx) (err error) {
			m, err = tx.InsertMessage(ctx, chatbus.Message{RoomID: roomID, WriterID: writer,
				Message: writer + " " + clientID, CreatedAt: at(5), ClientMsgID: clientID})
			return err
		})
		return m, err
	}
	aFirst, err := insert(r1, "a", "c1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = insert(r1, "a", "c1")
	wantCode(t, err, chatbus.CodeConflict)
	// The same id is free for another writer, in another room, and an empty
	// id is no id at all.
	bFirst, err := insert(r1, "b", "c1")
	if err != nil {
		t.Errorf("same client id, other writer: %v", err)
	}
	if _, err := insert(r2, "a", "c1"); err != nil {
		t.Errorf("same client id, other room: %v", err)
	}
	for range 2 {
		if _, err := insert(r1, "a", ""); err != nil {
			t.Errorf("empty client id: %v", err)
		}
	}
	if got := room(t, s, r1).LastSeq; got != 4 {
		t.Errorf("LastSeq %d, want 4 (the conflicting insert gives its seq back)", got)
	}

	for _, c := range []struct {
		writer string
		want   chatbus.Message
	}{{"a", aFirst}, {"b", bFirst}} {
		got := get(t, s, func(tx chatbus.Tx) (chatbus.Message, error) {
			return tx.MessageByClientID(ctx, r1, c.writer, "c1")
		})
		if d := diff(c.want, got); d != "" {
			t.Errorf("MessageByClientID(r1, %q, c1) (-want +got):\n%s", c.writer, d)
		}
	}
	for _, c := range []struct {
		room           int64
		writer, client string
	}{{r1, "a", "nope"}, {r2, "b", "c1"}, {r2 + 1000, "a", "c1"}, {r1, "nobody", "c1"}} {
		err := s.View(ctx, func(tx chatbus.Tx) error {
			_, err := tx.MessageByClientID(ctx, c.room, c.writer, c.client)
			return err
		})
		wantCode(t, err, chatbus.CodeNotFound)
	}
}

func testMessages(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	r := addRoom(t, s, "main", false, at(1), "a", "b")
	other := addRoom(t, s, "other", false, at(1), "a", "b")
	var all []chatbus.Message
	for i := range 10 {
		all = append(all, post(t, s, r, []string{"a", "b"}[i%2], fmt.Sprintf("message %d", i+1), at(10+i)))
		if i%2 == 0 {
			post(t, s, other, "a", "noise", at(10+i))
		}
	}
	page := func(f chatbus.MessageFilter) []chatbus.Message {
		t.Helper()
		return get(t, s, func(tx chatbus.Tx) ([]chatbus.Message, error) { return tx.Messages(ctx, r, f) })
	}
	for _, c := range []struct {
		f    chatbus.MessageFilter
		want []int64
	}{
		{chatbus.MessageFilter{Limit: 3}, []int64{8, 9, 10}},
		{chatbus.MessageFilter{Limit: 100}, seqRange(1, 10)},
		{chatbus.MessageFilter{Limit: 10}, seqRange(1, 10)},
		{chatbus.MessageFilter{Before: 5, Limit: 3}, []int64{2, 3, 4}},
		{chatbus.MessageFilter{Before: 3, Limit: 10}, []int64{1, 2}},
		{chatbus.MessageFilter{Before: 1, Limit: 10}, []int64{}},
		{chatbus.MessageFilter{Before: 100, Limit: 2}, []int64{9, 10}},
		{chatbus.MessageFilter{Forward: true, After: 7, Limit: 10}, []int64{8, 9, 10}},
		{chatbus.MessageFilter{Forward: true, After: 2, Limit: 3}, []int64{3, 4, 5}},
		{chatbus.MessageFilter{Forward: true, After: 10, Limit: 5}, []int64{}},
		{chatbus.MessageFilter{Forward: true, After: 2, Before: 6, Limit: 10}, []int64{3, 4, 5}},
		{chatbus.MessageFilter{Forward: true, After: 2, Before: 9, Limit: 2}, []int64{3, 4}},
		{chatbus.MessageFilter{Forward: true, After: 4, Before: 5, Limit: 10}, []int64{}},
	} {
		if d := diff(c.want, seqs(page(c.f))); d != "" {
			t.Errorf("Messages(%+v) seqs (-want +got):\n%s", c.f, d)
		}
	}
	if d := diff(all[3:6], page(chatbus.MessageFilter{Forward: true, After: 3, Limit: 3})); d != "" {
		t.Errorf("Messages content (-want +got):\n%s", d)
	}
	if d := diff(all[6:], page(chatbus.MessageFilter{Limit: 4})); d != "" {
		t.Errorf("Messages newest page content (-want +got):\n%s", d)
	}
	got := get(t, s, func(tx chatbus.Tx) ([]chatbus.Message, error) {
		return tx.Messages(ctx, other+1000, chatbus.MessageFilter{Limit: 10})
	})
	if len(got) != 0 {
		t.Errorf("Messages of a missing room: %v", got)
	}
}

func testOutcomes(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	outcome := func(key string) ([]byte, error) {
		var b []byte
		err := s.View(ctx, func(tx chatbus.Tx) (err error) {
			b, err = tx.Outcome(ctx, key)
			return err
		})
		return b, err
	}
	_, err := outcome("nope")
	wantCode(t, err, chatbus.CodeNotFound)

	results := map[string][]byte{
		"op/old":   []byte(`{"userId":"a"}`),
		"op/edge":  []byte(`[]`),
		"op/new":   []byte(`{"message":"Grüße ☺\n\"quoted\""}`),
		"op/newer": []byte(`null`),
	}
	saved := map[string]time.Time{"op/old": at(1), "op/edge": at(10), "op/new": at(11), "op/newer": at(20)}
	update(t, s, func(tx chatbus.Tx) error {
		for k, v := range results {
			if err := tx.SaveOutcome(ctx, k, v, saved[k]); err != nil {
				return err
			}
		}
		return nil
	})
	for k, want := range results {
		got, err := outcome(k)
		if err != nil || string(got) != string(want) {
			t.Errorf("Outcome(%q) = %q, %v; want %q", k, got, err, want)
		}
	}
	err = tryUpdate(t, s, func(tx chatbus.Tx) error { return tx.SaveOutcome(ctx, "op/new", []byte(`{}`), at(30)) })
	wantCode(t, err, chatbus.CodeConflict)
	if got, _ := outcome("op/new"); string(got) != string(results["op/new"]) {
		t.Errorf("Outcome overwritten: %q", got)
	}

	prune := func(before time.Time) int64 {
		t.Helper()
		var n int64
		update(t, s, func(tx chatbus.Tx) (err error) {
			n, err = tx.PruneOutcomes(ctx, before)
			return err
		})
		return n
	}
	// Outcomes saved before the time go; one saved at it stays.
	if n := prune(at(10)); n != 1 {
		t.Errorf("PruneOutcomes(at 10) = %d, want 1", n)
	}
	if n := prune(at(10)); n != 0 {
		t.Errorf("PruneOutcomes again = %d, want 0", n)
	}
	if _, err := outcome("op/old"); chatbus.ErrorCode(err) != chatbus.CodeNotFound {
		t.Errorf("pruned outcome: %v, want not found", err)
	}
	if _, err := outcome("op/edge"); err != nil {
		t.Errorf("outcome saved at the bound was pruned: %v", err)
	}
	if n := prune(at(12)); n != 2 {
		t.Errorf("PruneOutcomes(at 12) = %d, want 2", n)
	}
	if _, err := outcome("op/newer"); err != nil {
		t.Errorf("newer outcome pruned: %v", err)
	}
	// A pruned key may be used again.
	update(t, s, func(tx chatbus.Tx) error { return tx.SaveOutcome(ctx, "op/old", []byte(`1`), at(40)) })
	if got, err := outcome("op/old"); err != nil || string(got) != "1" {
		t.Errorf("re-saved outcome = %q, %v", got, err)
	}
}

// snapshot is what a user can see of the store, to tell whether a
// transaction left a trace.
type snapshot struct {
	User     chatbus.User
	Friends  []chatbus.Friend
	Rooms    []chatbus.Room
	Messages []chatbus.Message
	Users    map[string]chatbus.User
}

func takeSnapshot(t *testing.T, s chatbus.Store, user string, roomID int64) snapshot {
	t.Helper()
	ctx := t.Context()
	return get(t, s, func(tx chatbus.Tx) (sn snapshot, err error) {
		if sn.User, err = tx.User(ctx, user); err != nil {
			return sn, err
		}
		if sn.Friends, err = tx.Friends(ctx, user); err != nil {
			return sn, err
		}
		if sn.Rooms, err = tx.Rooms(ctx, user); err != nil {
			return sn, err
		}
		if sn.Messages, err = tx.Messages(ctx, roomID, chatbus.MessageFilter{Limit: 100}); err != nil {
			return sn, err
		}
		sn.Users, err = tx.Users(ctx, []string{"a", "b", "new"})
		return sn, err
	})
}

func testUpdateIsAtomic(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	r := addRoom(t, s, "", false, at(1), "a", "b")
	post(t, s, r, "a", "before", at(2))
	before := takeSnapshot(t, s, "a", r)

	errBoom := errors.New("boom")
	err := tryUpdate(t, s, func(tx chatbus.Tx) error {
		steps := []func() error{
			func() error { return tx.InsertUser(ctx, newUser("new")) },
			func() error { return tx.InsertFriends(ctx, "a", []string{"b", "new"}, at(3)) },
			func() error {
				u := newUser("a")
				u.Status, u.LoginAt = "changed", ptr(at(3))
				return tx.UpdateUser(ctx, u)
			},
			func() error {
				_, err := tx.InsertRoom(ctx, chatbus.Room{Name: "doomed", Members: members("a", "new"), CreatedAt: at(3), LastActivityAt: at(3)})
				return err
			},
			func() error {
				_, err := tx.InsertMessage(ctx, chatbus.Message{RoomID: r, WriterID: "a", Message: "doomed", CreatedAt: at(4), ClientMsgID: "x"})
				return err
			},
			func() error { return tx.SaveOutcome(ctx, "op/doomed", []byte(`{}`), at(4)) },
		}
		for i, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
		}
		// Everything is visible inside the transaction …
		if fs, err := tx.Friends(ctx, "a"); err != nil || len(fs) != 2 {
			t.Errorf("inside the transaction: Friends(a) = %v, %v; want 2", fs, err)
		}
		return errBoom // … and nothing after it.
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	if d := diff(before, takeSnapshot(t, s, "a", r)); d != "" {
		t.Errorf("a failed Update left a trace (-before +after):\n%s", d)
	}
	err = s.View(ctx, func(tx chatbus.Tx) error { _, err := tx.Outcome(ctx, "op/doomed"); return err })
	wantCode(t, err, chatbus.CodeNotFound)
	err = s.View(ctx, func(tx chatbus.Tx) error { _, err := tx.MessageByClientID(ctx, r, "a", "x"); return err })
	wantCode(t, err, chatbus.CodeNotFound)

	// The store still works, and a committed Update shows.
	addUsers(t, s, "new")
	if got := takeSnapshot(t, s, "a", r).Users; len(got) != 3 {
		t.Errorf("after a later commit: %d users, want 3", len(got))
	}
}

func testUpdateCancelled(t *testing.T, s chatbus.Store) {
	addUsers(t, s, "a")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := s.Update(ctx, func(tx chatbus.Tx) error {
		if err := tx.InsertUser(ctx, newUser("b")); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil {
		t.Fatal("Update whose context was cancelled before commit succeeded")
	}
	err = s.View(t.Context(), func(tx chatbus.Tx) error { _, err := tx.User(t.Context(), "b"); return err })
	wantCode(t, err, chatbus.CodeNotFound)

	// An Update on a context cancelled beforehand does nothing.
	err = s.Update(ctx, func(tx chatbus.Tx) error { return tx.InsertUser(ctx, newUser("c")) })
	if err == nil {
		t.Fatal("Update on a cancelled context succeeded")
	}
	err = s.View(t.Context(), func(tx chatbus.Tx) error { _, err := tx.User(t.Context(), "c"); return err })
	wantCode(t, err, chatbus.CodeNotFound)
	addUsers(t, s, "d") // the store is still usable
}

func testUpdatePanics(t *testing.T, s chatbus.Store) {
	// A leaked transaction would make later calls wait: they time out instead.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	addUsers(t, s, "a")
	for _, name := range []string{"Update", "View"} {
		run := s.Update
		if name == "View" {
			run = s.View
		}
		// Enough panics to use up any pool of connections that they leak.
		for i := range 20 {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatalf("a panic in the fn of %s did not reach its caller", name)
					}
				}()
				err := run(ctx, func(tx chatbus.Tx) error {
					if name == "Update" {
						if err := tx.InsertUser(ctx, newUser(fmt.Sprint("p", i))); err != nil {
							return err
						}
					} else if _, err := tx.User(ctx, "a"); err != nil {
						return err
					}
					panic("boom")
				})
				t.Fatalf("%s #%d returned %v instead of panicking", name, i, err)
			}()
		}
	}
	// The store still works, promptly, and kept nothing of the panicking Updates.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Update(wctx, func(tx chatbus.Tx) error { return tx.InsertUser(wctx, newUser("b")) }); err != nil {
		t.Fatalf("Update after panics: %v", err)
	}
	got := map[string]chatbus.User{}
	err := s.View(wctx, func(tx chatbus.Tx) (err error) {
		got, err = tx.Users(wctx, []string{"a", "b", "p0", "p19"})
		return err
	})
	if err != nil {
		t.Fatalf("View after panics: %v", err)
	}
	if _, ok := got["p0"]; ok || len(got) != 2 {
		t.Errorf("users after panics: %v; want a and b only", got)
	}
}

func testViewRejectsWrites(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	r := addRoom(t, s, "", false, at(1), "a", "b")
	before := takeSnapshot(t, s, "a", r)
	writes := map[string]func(tx chatbus.Tx) error{
		"InsertUser": func(tx chatbus.Tx) error { return tx.InsertUser(ctx, newUser("new")) },
		"UpdateUser": func(tx chatbus.Tx) error {
			u := newUser("a")
			u.Status = "changed"
			return tx.UpdateUser(ctx, u)
		},
		"InsertFriends": func(tx chatbus.Tx) error { return tx.InsertFriends(ctx, "a", []string{"b"}, at(2)) },
		"InsertRoom": func(tx chatbus.Tx) error {
			_, err := tx.InsertRoom(ctx, chatbus.Room{Members: members("a"), CreatedAt: at(2), LastActivityAt: at(2)})
			return err
		},
		"InsertMessage": func(tx chatbus.Tx) error {
			_, err := tx.InsertMessage(ctx, chatbus.Message{RoomID: r, WriterID: "a", Message: "x", CreatedAt: at(2)})
			return err
		},
		"SaveOutcome": func(tx chatbus.Tx) error { return tx.SaveOutcome(ctx, "op/k", []byte(`1`), at(2)) },
		"PruneOutcomes": func(tx chatbus.Tx) error {
			_, err := tx.PruneOutcomes(ctx, at(100))
			return err
		},
	}
	update(t, s, func(tx chatbus.Tx) error { return tx.SaveOutcome(ctx, "op/old", []byte(`1`), at(1)) })
	for name, write := range writes {
		var inner error
		err := s.View(ctx, func(tx chatbus.Tx) error {
			inner = write(tx)
			return inner
		})
		if inner == nil {
			t.Errorf("%s in View succeeded", name)
		}
		if !errors.Is(err, inner) {
			t.Errorf("%s: View returned %v, want fn's error %v", name, err, inner)
		}
	}
	if d := diff(before, takeSnapshot(t, s, "a", r)); d != "" {
		t.Errorf("writes in View left a trace (-before +after):\n%s", d)
	}
	err := s.View(ctx, func(tx chatbus.Tx) error { _, err := tx.Outcome(ctx, "op/old"); return err })
	if err != nil {
		t.Errorf("PruneOutcomes in View pruned: %v", err)
	}
}

func testViewSnapshot(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	r := addRoom(t, s, "", false, at(1), "a", "b")
	post(t, s, r, "a", "one", at(2))

	err := s.View(ctx, func(tx chatbus.Tx) error {
		first, err := tx.Room(ctx, r)
		if err != nil {
			return err
		}
		// Another transaction commits while this one is open.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- s.Update(wctx, func(w chatbus.Tx) error {
				if _, err := w.InsertMessage(wctx, chatbus.Message{RoomID: r, WriterID: "b", Message: "two", CreatedAt: at(3)}); err != nil {
					return err
				}
				return w.InsertUser(wctx, newUser("c"))
			})
		}()
		if err := <-done; err != nil {
			return fmt.Errorf("concurrent Update: %w", err)
		}
		again, err := tx.Room(ctx, r)
		if err != nil {
			return err
		}
		if d := diff(first, again); d != "" {
			t.Errorf("View saw a commit made after it began (-first +again):\n%s", d)
		}
		msgs, err := tx.Messages(ctx, r, chatbus.MessageFilter{Limit: 10})
		if err != nil {
			return err
		}
		if d := diff([]int64{1}, seqs(msgs)); d != "" {
			t.Errorf("View saw a message committed after it began (-want +got):\n%s", d)
		}
		if _, err := tx.User(ctx, "c"); chatbus.ErrorCode(err) != chatbus.CodeNotFound {
			t.Errorf("View saw a user committed after it began: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	// A new View sees the commit.
	if got := room(t, s, r).LastSeq; got != 2 {
		t.Errorf("LastSeq in a later View = %d, want 2", got)
	}
}

func testTimesRoundTrip(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	// Milliseconds on both sides of the Unix epoch and far from it, given in
	// UTC or in another zone: the store gives back the instant, in UTC.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	times := []time.Time{
		time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 1_000_000, time.UTC),
		time.Date(2001, 2, 3, 4, 5, 6, 7_000_000, zone),
		time.Date(2262, 1, 1, 0, 0, 0, 999_000_000, time.UTC),
		t0,
	}
	for i, tm := range times {
		utc := tm.UTC()
		id := fmt.Sprintf("u%d", i)
		u := chatbus.User{ID: id, Email: id + "@example.com", Name: id, JoinedAt: tm, LoginAt: ptr(tm), LogoutAt: ptr(tm), PasswordHash: "h"}
		var roomID int64
		update(t, s, func(tx chatbus.Tx) (err error) {
			if err := tx.InsertUser(ctx, u); err != nil {
				return err
			}
			roomID, err = tx.InsertRoom(ctx, chatbus.Room{Members: []chatbus.Member{{ID: id}}, CreatedAt: tm, LastActivityAt: tm})
			if err != nil {
				return err
			}
			_, err = tx.InsertMessage(ctx, chatbus.Message{RoomID: roomID, WriterID: id, Message: "m", CreatedAt: tm})
			if err != nil {
				return err
			}
			return tx.SaveOutcome(ctx, id, []byte(`1`), tm)
		})
		gotU := get(t, s, func(tx chatbus.Tx) (chatbus.User, error) { return tx.User(ctx, id) })
		gotR := room(t, s, roomID)
		gotM := get(t, s, func(tx chatbus.Tx) ([]chatbus.Message, error) {
			return tx.Messages(ctx, roomID, chatbus.MessageFilter{Limit: 1})
		})
		if len(gotM) != 1 || gotR.LastMessage == nil {
			t.Fatalf("%v: message missing", tm)
		}
		got := []time.Time{gotU.JoinedAt, *gotU.LoginAt, *gotU.LogoutAt, gotR.CreatedAt, gotR.LastActivityAt,
			gotR.LastMessage.CreatedAt, gotM[0].CreatedAt}
		for j, g := range got {
			if !g.Equal(utc) || g.Location() != time.UTC {
				t.Errorf("time %d of %v came back as %v (%s), want %v (UTC)", j, tm, g, g.Location(), utc)
			}
		}
		// Outcome times are exact too: pruning before the instant keeps it,
		// a millisecond after removes it.
		var kept, gone int64
		update(t, s, func(tx chatbus.Tx) (err error) {
			if kept, err = tx.PruneOutcomes(ctx, tm); err != nil {
				return err
			}
			gone, err = tx.PruneOutcomes(ctx, tm.Add(time.Millisecond))
			return err
		})
		if kept != 0 || gone != 1 {
			t.Errorf("%v: pruning at it removed %d, a millisecond later %d; want 0 and 1", tm, kept, gone)
		}
	}
}

func testFollowers(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b", "c", "d")
	update(t, s, func(tx chatbus.Tx) error {
		if err := tx.InsertFriends(ctx, "c", []string{"a"}, t0); err != nil {
			return err
		}
		return tx.InsertFriends(ctx, "b", []string{"a", "d"}, t0)
	})
	got := get(t, s, func(tx chatbus.Tx) ([]string, error) { return tx.Followers(ctx, "a") })
	if d := diff([]string{"b", "c"}, got); d != "" {
		t.Errorf("followers of a (-want +got):\n%s", d)
	}
	if got := get(t, s, func(tx chatbus.Tx) ([]string, error) { return tx.Followers(ctx, "c") }); len(got) != 0 {
		t.Errorf("followers of c: %v", got)
	}
}

func testOutbox(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	pending := func(limit int) []chatbus.Event {
		return get(t, s, func(tx chatbus.Tx) ([]chatbus.Event, error) { return tx.PendingEvents(ctx, limit) })
	}
	if evs := pending(10); len(evs) != 0 {
		t.Fatalf("a new outbox holds %d events", len(evs))
	}
	ev := func(kind, user string, n int) chatbus.Event {
		return chatbus.Event{Kind: kind, UserID: user, Data: []byte(fmt.Sprintf(`{"n":%d}`, n))}
	}
	update(t, s, func(tx chatbus.Tx) error {
		roomEv := chatbus.Event{Kind: "message", RoomID: 7, To: []string{"a", "b"}, Data: []byte(`{"n":2}`)}
		return tx.InsertEvents(ctx, []chatbus.Event{ev("friend", "a", 1), roomEv})
	})
	// An event saved by a transaction that fails is not there.
	err := tryUpdate(t, s, func(tx chatbus.Tx) error {
		if err := tx.InsertEvents(ctx, []chatbus.Event{ev("room", "x", 99)}); err != nil {
			return err
		}
		return chatbus.Errorf(chatbus.CodeInvalid, "no")
	})
	wantCode(t, err, chatbus.CodeInvalid)
	update(t, s, func(tx chatbus.Tx) error { return tx.InsertEvents(ctx, []chatbus.Event{ev("status", "c", 3)}) })

	all := pending(10)
	if len(all) != 3 || all[0].Kind != "friend" || all[0].RoomID != 0 || all[0].To != nil || all[1].RoomID != 7 ||
		diff([]string{"a", "b"}, all[1].To) != "" || all[1].UserID != "" || all[2].Kind != "status" ||
		string(all[2].Data) != `{"n":3}` || !(all[0].ID < all[1].ID && all[1].ID < all[2].ID) {
		t.Fatalf("pending events: %+v", all)
	}
	if first := pending(2); len(first) != 2 || first[1].ID != all[1].ID {
		t.Fatalf("the first 2: %+v", first)
	}
	update(t, s, func(tx chatbus.Tx) error { return tx.DeleteEvents(ctx, []int64{all[0].ID, all[1].ID}) })
	if left := pending(10); len(left) != 1 || left[0].ID != all[2].ID {
		t.Fatalf("after deleting the first two: %+v", left)
	}
	// New events come after the deleted ones, never reusing their ids.
	// Ids no longer there, and no ids at all, are no error.
	update(t, s, func(tx chatbus.Tx) error { return tx.DeleteEvents(ctx, []int64{all[0].ID, all[2].ID}) })
	update(t, s, func(tx chatbus.Tx) error { return tx.DeleteEvents(ctx, nil) })
	update(t, s, func(tx chatbus.Tx) error { return tx.InsertEvents(ctx, []chatbus.Event{ev("friend", "d", 4)}) })
	if left := pending(10); len(left) != 1 || left[0].ID <= all[2].ID {
		t.Fatalf("a new event after deletes: %+v", left)
	}
}

func testRoomMembers(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b", "c")
	id := addRoom(t, s, "g", false, t0, "c", "a", "b")
	got := get(t, s, func(tx chatbus.Tx) ([]string, error) { return tx.RoomMembers(ctx, id) })
	if d := diff([]string{"c", "a", "b"}, got); d != "" {
		t.Errorf("members in the room's order (-want +got):\n%s", d)
	}
	if got := get(t, s, func(tx chatbus.Tx) ([]string, error) { return tx.RoomMembers(ctx, id+100) }); len(got) != 0 {
		t.Errorf("members of a missing room: %v", got)
	}
}

func testReadSeqs(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b", "c")
	id := addRoom(t, s, "g", false, t0, "a", "b")
	reads := func() map[string]int64 {
		return get(t, s, func(tx chatbus.Tx) (map[string]int64, error) { return tx.ReadSeqs(ctx, id) })
	}
	if d := diff(map[string]int64{"a": 0, "b": 0}, reads()); d != "" {
		t.Errorf("read positions of a new room (-want +got):\n%s", d)
	}
	set := func(user string, seq int64) (moved bool, err error) {
		err = tryUpdate(t, s, func(tx chatbus.Tx) (err error) {
			moved, err = tx.SetReadSeq(ctx, id, user, seq)
			return err
		})
		return moved, err
	}
	for _, c := range []struct {
		user  string
		seq   int64
		moved bool
	}{{"a", 3, true}, {"a", 3, false}, {"a", 2, false}, {"a", 5, true}, {"b", 1, true}} {
		if moved, err := set(c.user, c.seq); err != nil || moved != c.moved {
			t.Errorf("SetReadSeq(%s, %d): moved %v, %v; want %v", c.user, c.seq, moved, err, c.moved)
		}
	}
	if d := diff(map[string]int64{"a": 5, "b": 1}, reads()); d != "" {
		t.Errorf("read positions never move back (-want +got):\n%s", d)
	}
	_, err := set("c", 1)
	wantCode(t, err, chatbus.CodeNotFound)
	if got := get(t, s, func(tx chatbus.Tx) (map[string]int64, error) { return tx.ReadSeqs(ctx, id+100) }); len(got) != 0 {
		t.Errorf("read positions of a missing room: %v", got)
	}
	// Rooms show them with their members.
	wantMembers := []chatbus.Member{{ID: "a", Name: "Ann", ReadSeq: 5}, {ID: "b", Name: "Bea", ReadSeq: 1}}
	if d := diff(wantMembers, room(t, s, id).Members); d != "" {
		t.Errorf("Room's members (-want +got):\n%s", d)
	}
	rooms := get(t, s, func(tx chatbus.Tx) ([]chatbus.Room, error) { return tx.Rooms(ctx, "b") })
	if len(rooms) != 1 || diff(wantMembers, rooms[0].Members) != "" {
		t.Errorf("Rooms' members: %+v", rooms)
	}
}

// testSetReadSeqRollsBack: a position moved in a transaction that fails
// stays where it was.
func testSetReadSeqRollsBack(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	addUsers(t, s, "a", "b")
	id := addRoom(t, s, "", true, t0, "a", "b")
	err := tryUpdate(t, s, func(tx chatbus.Tx) error {
		if _, err := tx.SetReadSeq(ctx, id, "a", 4); err != nil {
			return err
		}
		return chatbus.Errorf(chatbus.CodeInvalid, "no")
	})
	wantCode(t, err, chatbus.CodeInvalid)
	got := get(t, s, func(tx chatbus.Tx) (map[string]int64, error) { return tx.ReadSeqs(ctx, id) })
	if got["a"] != 0 {
		t.Errorf("a's position after a failed transaction: %d, want 0", got["a"])
	}
}

// testOutboxDeletesExactly: DeleteEvents removes the events named and no
// other. Where writers run side by side, event 2 may commit after events 1
// and 3 were read and published; deleting "through 3" would lose it.
func testOutboxDeletesExactly(t *testing.T, s chatbus.Store) {
	ctx := t.Context()
	pending := func() []int64 {
		evs := get(t, s, func(tx chatbus.Tx) ([]chatbus.Event, error) { return tx.PendingEvents(ctx, 1000) })
		ids := []int64{}
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		return ids
	}
	insert := func(n int) {
		update(t, s, func(tx chatbus.Tx) error {
			evs := make([]chatbus.Event, n)
			for i := range evs {
				evs[i] = chatbus.Event{Kind: "status", UserID: fmt.Sprint("u", i), Data: []byte(`{}`)}
			}
			return tx.InsertEvents(ctx, evs)
		})
	}
	insert(3)
	ids := pending()
	if len(ids) != 3 {
		t.Fatalf("pending: %v, want 3 events", ids)
	}
	update(t, s, func(tx chatbus.Tx) error { return tx.DeleteEvents(ctx, []int64{ids[0], ids[2]}) })
	if d := diff([]int64{ids[1]}, pending()); d != "" {
		t.Fatalf("after deleting the first and third (-want +got):\n%s", d)
	}
	update(t, s, func(tx chatbus.Tx) error { return tx.DeleteEvents(ctx, []int64{ids[1]}) })

	// Long lists, deleted in parts: every other one of 601 events.
	insert(601)
	ids = pending()
	if len(ids) != 601 {
		t.Fatalf("pending: %d events, want 601", len(ids))
	}
	var odd, even []int64
	for i, id := range ids {
		if i%2 == 0 {
			even = append(even, id)
		} else {
			odd = append(odd, id)
		}
	}
	update(t, s, func(tx chatbus.Tx) error { return tx.DeleteEvents(ctx, even) })
	if d := diff(odd, pending()); d != "" {
		t.Fatalf("after deleting every other event (-want +got):\n%s", d)
	}
	// A failed transaction deletes nothing.
	err := tryUpdate(t, s, func(tx chatbus.Tx) error {
		if err := tx.DeleteEvents(ctx, odd); err != nil {
			return err
		}
		return chatbus.Errorf(chatbus.CodeInvalid, "no")
	})
	wantCode(t, err, chatbus.CodeInvalid)
	if got := pending(); len(got) != len(odd) {
		t.Fatalf("after a failed delete: %d events, want %d", len(got), len(odd))
	}
}

// Versions lists the migrations applied to db (schema_migrations), in order:
// for the stores' migration tests.
func Versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []int{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
