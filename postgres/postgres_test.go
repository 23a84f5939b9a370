package postgres_test

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
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/postgres"
	"github.com/chatbus/chatbus/postgres/pgtest"
	"github.com/chatbus/chatbus/sqlstore"
	"github.com/chatbus/chatbus/storetest"
)

func open(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	pgtest.Server(t) // skip at once where there is no server
	storetest.Run(t, func(t *testing.T) chatbus.Store { return open(t, pgtest.URL(t)) })
}

func TestIsURL(t *testing.T) {
	for db, want := range map[string]bool{
		"postgres://u@h/db":          true,
		"postgresql://u:p@h:5432/db": true,
		"POSTGRES://h/db":            true,
		"data/chatbus.db":            false,
		"/var/lib/postgres/x.db":     false,
		"":                           false,
	} {
		if got := postgres.IsURL(db); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", db, got, want)
		}
	}
}

func allVersions(t *testing.T) []int {
	t.Helper()
	migrations, err := postgres.Migrations()
	if err != nil || len(migrations) == 0 {
		t.Fatalf("migrations: %d, %v", len(migrations), err)
	}
	out := []int{}
	for i := range migrations {
		out = append(out, i+1)
	}
	return out
}

// TestOpenConcurrently: backends that start at once on one new database
// each find it migrated, once.
func TestOpenConcurrently(t *testing.T) {
	for range 3 {
		url := pgtest.URL(t)
		const n = 4
		errs := make(chan error, n)
		stores := make(chan *sqlstore.Store, n)
		for range n {
			go func() {
				s, err := postgres.Open(t.Context(), url)
				if err == nil {
					stores <- s
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("concurrent Open: %v", err)
			}
		}
		close(stores)
		for s := range stores {
			if d := cmp.Diff(allVersions(t), storetest.Versions(t, s.Read)); d != "" {
				t.Errorf("versions (-want +got):\n%s", d)
			}
			s.Close()
		}
	}
}

// TestMigrateConcurrently: two Migrates at once on one database, each with a
// pool of its own, apply each migration once and both succeed.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			db, err := sql.Open("pgx", url)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			errs[i] = postgres.Migrate(t.Context(), db)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Migrate: %v", err)
	}
	s := open(t, url) // and once more, with nothing to do
	defer s.Close()
	if d := cmp.Diff(allVersions(t), storetest.Versions(t, s.Read)); d != "" {
		t.Errorf("versions (-want +got):\n%s", d)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	alice := chatbus.User{ID: "alice", Email: "alice@example.com", Name: "Alice", PasswordHash: "h",
		JoinedAt: time.Date(2024, 1, 2, 3, 4, 5, 6_000_000, time.UTC)}
	s := open(t, url)
	if err := s.Update(ctx, func(tx chatbus.Tx) error { return tx.InsertUser(ctx, alice) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, url)
	defer s.Close()
	var got chatbus.User
	err := s.View(ctx, func(tx chatbus.Tx) (err error) { got, err = tx.User(ctx, "alice"); return err })
	if d := cmp.Diff(alice, got); err != nil || d != "" {
		t.Errorf("after re-opening (-want +got):\n%s %v", d, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, url)
	newer := len(allVersions(t)) + 1
	if _, err := s.Write.ExecContext(t.Context(), `INSERT INTO schema_migrations (version) VALUES ($1)`, newer); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := postgres.Open(t.Context(), url)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: %v; want it to say the schema is newer", err)
	}
}

func TestOpenFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// A port where nothing listens, and a URL that is not one.
	for _, url := range []string{"postgres://u:secret-pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "postgres://u:secret-pw@[::1"} {
		s, err := postgres.Open(ctx, url)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", url)
		}
		if strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("Open's error shows the password: %v", err)
		}
	}
}

// setup adds users and a room of them and returns the room's id.
func setup(t *testing.T, s chatbus.Store, ids ...string) int64 {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var room int64
	err := s.Update(ctx, func(tx chatbus.Tx) (err error) {
		r := chatbus.Room{Name: "busy", CreatedAt: now, LastActivityAt: now}
		for _, id := range ids {
			u := chatbus.User{ID: id, Email: id + "@example.com", Name: id, PasswordHash: "h", JoinedAt: now}
			if err := tx.InsertUser(ctx, u); err != nil {
				return err
			}
			r.Members = append(r.Members, chatbus.Member{ID: id})
		}
		room, err = tx.InsertRoom(ctx, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return room
}

// TestUpdateRetried: an Update that loses a race for a row fails with a
// serialization failure, and runs again from the start, unseen by its caller.
func TestUpdateRetried(t *testing.T) {
	ctx := t.Context()
	s := open(t, pgtest.URL(t))
	defer s.Close()
	room := setup(t, s, "a")
	before := s.Retries()

	runs := 0
	read, other := make(chan struct{}), make(chan error)
	var got chatbus.Message
	err := s.Update(ctx, func(tx chatbus.Tx) error {
		runs++
		// The snapshot is taken here …
		if _, err := tx.Room(ctx, room); err != nil {
			return err
		}
		if runs == 1 {
			// … another writer takes seq 1 and commits …
			go func() {
				<-read
				_, err := postAt(ctx, s, room, "other")
				other <- err
			}()
			read <- struct{}{}
			if err := <-other; err != nil {
				return fmt.Errorf("the other writer: %w", err)
			}
		}
		// … so this one cannot take the room's next seq in its snapshot.
		var err error
		got, err = tx.InsertMessage(ctx, chatbus.Message{RoomID: room, WriterID: "a", Message: "mine", CreatedAt: time.Now()})
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if runs != 2 || got.Seq != 2 {
		t.Errorf("fn ran %d times and took seq %d; want 2 runs, seq 2", runs, got.Seq)
	}
	if n := s.Retries() - before; n != 1 {
		t.Errorf("Retries went up by %d, want 1", n)
	}
}

func postAt(ctx context.Context, s chatbus.Store, room int64, text string) (m chatbus.Message, err error) {
	err = s.Update(ctx, func(tx chatbus.Tx) (err error) {
		m, err = tx.InsertMessage(ctx, chatbus.Message{RoomID: room, WriterID: "a", Message: text, CreatedAt: time.Now()})
		return err
	})
	return m, err
}

// TestConcurrentPosts: 20 people post to one room at once through the
// messenger; the serialization failures this makes are retried, so every
// post succeeds, and the seqs are 1 to 20 with no gap. Their events reach
// the outbox, one each.
func TestConcurrentPosts(t *testing.T) {
	ctx := t.Context()
	s := open(t, pgtest.URL(t))
	defer s.Close()
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%02d", i)
	}
	room := setup(t, s, ids...)
	m := chatbus.NewMessenger(s, chatbus.NewHasher(chatbus.DefaultArgon2, 1))
	before := s.Retries()

	var wg sync.WaitGroup
	start := make(chan struct{})
	seqs := make(chan int64, n)
	for _, id := range ids {
		wg.Go(func() {
			<-start
			msg, err := m.PostMessage(ctx, chatbus.PostMessage{WriterID: id, RoomID: room, Message: "hi from " + id})
			if err != nil {
				t.Errorf("PostMessage by %s: %v", id, err)
				return
			}
			seqs <- msg.Seq
		})
	}
	close(start)
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for q := range seqs {
		seen[q] = true
	}
	for q := int64(1); q <= n; q++ {
		if !seen[q] {
			t.Errorf("seq %d never given; got %v", q, seen)
		}
	}
	var evs []chatbus.Event
	err := s.View(ctx, func(tx chatbus.Tx) (err error) { evs, err = tx.PendingEvents(ctx, 100); return err })
	if err != nil || len(evs) != n {
		t.Errorf("outbox: %d events, %v; want %d", len(evs), err, n)
	}
	t.Logf("%d retries", s.Retries()-before)
}

// TestConcurrentBatches: batches of posts to one room, side by side. A post
// that loses a race fails its batch with a serialization failure, and the
// whole batch runs again; in the end every post is there once, seqs 1 to 20.
func TestConcurrentBatches(t *testing.T) {
	ctx := t.Context()
	s := open(t, pgtest.URL(t))
	defer s.Close()
	room := setup(t, s, "a", "b", "c", "d")
	m := chatbus.NewMessenger(s, chatbus.NewHasher(chatbus.DefaultArgon2, 1))
	before := s.Retries()
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			err := m.Batch(ctx, func(ctx context.Context) error {
				for i := range 5 {
					_, err := m.PostMessage(ctx, chatbus.PostMessage{WriterID: id, RoomID: room,
						Message: fmt.Sprint(id, i), ClientMsgID: fmt.Sprint(id, i)})
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Errorf("Batch of %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	var msgs []chatbus.Message
	err := s.View(ctx, func(tx chatbus.Tx) (err error) {
		msgs, err = tx.Messages(ctx, room, chatbus.MessageFilter{Limit: 100})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]bool{}
	for i, msg := range msgs {
		if msg.Seq != int64(i+1) || texts[msg.Message] {
			t.Errorf("message %d: %+v (a gap or a repeat)", i, msg)
		}
		texts[msg.Message] = true
	}
	if len(msgs) != 20 {
		t.Errorf("%d messages, want 20", len(msgs))
	}
	t.Logf("%d retries", s.Retries()-before)
}
