package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatbus/chatbus"
	"github.com/chatbus/chatbus/sqlite"
	"github.com/chatbus/chatbus/sqlstore"
	"github.com/chatbus/chatbus/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) chatbus.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "chatbus.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func open(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

// rawDB opens the file without the store, as another program would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func allVersions(t *testing.T) []int {
	t.Helper()
	migrations, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(migrations) == 0 {
		t.Fatal("no migrations embedded")
	}
	out := []int{}
	for i := range migrations {
		out = append(out, i+1)
	}
	return out
}

var alice = chatbus.User{ID: "alice", Email: "alice@example.com", Name: "Alice", PasswordHash: "h",
	JoinedAt: time.Date(2024, 1, 2, 3, 4, 5, 6_000_000, time.UTC)}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "chatbus.db")
	want := allVersions(t)

	s := open(t, path)
	if d := cmp.Diff(want, storetest.Versions(t, s.Read)); d != "" {
		t.Errorf("versions after the first Open (-want +got):\n%s", d)
	}
	if err := s.Update(ctx, func(tx chatbus.Tx) error { return tx.InsertUser(ctx, alice) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Re-running the migrations would fail (CREATE TABLE of an existing table)
	// or lose data; neither happens.
	for range 2 {
		s = open(t, path)
		if d := cmp.Diff(want, storetest.Versions(t, s.Read)); d != "" {
			t.Errorf("versions after re-opening (-want +got):\n%s", d)
		}
		var got chatbus.User
		err := s.View(ctx, func(tx chatbus.Tx) (err error) {
			got, err = tx.User(ctx, "alice")
			return err
		})
		if err != nil {
			t.Fatalf("after re-opening: %v", err)
		}
		if d := cmp.Diff(alice, got); d != "" {
			t.Errorf("user after re-opening (-want +got):\n%s", d)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatbus.db")
	s := open(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	newer := len(allVersions(t)) + 1
	db := rawDB(t, path)
	if _, err := db.ExecContext(t.Context(), `INSERT INTO schema_migrations (version) VALUES (?)`, newer); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := sqlite.Open(t.Context(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: %v; want it to say the schema is newer", err)
	}
	// The database is left as it was.
	want := append(allVersions(t), newer)
	if d := cmp.Diff(want, storetest.Versions(t, rawDB(t, path))); d != "" {
		t.Errorf("versions after the refused Open (-want +got):\n%s", d)
	}
}

func TestMigrateAppliesOnlyNewMigrations(t *testing.T) {
	ctx := t.Context()
	db := rawDB(t, filepath.Join(t.TempDir(), "m.db"))
	m1 := `CREATE TABLE one (x INTEGER); INSERT INTO one VALUES (1);`
	m2 := `CREATE TABLE two (x INTEGER); INSERT INTO one VALUES (2);`
	bad := `CREATE TABLE three (x INTEGER); INSERT INTO nowhere VALUES (3);`

	if err := sqlstore.Migrate(ctx, db, []string{m1}); err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.Migrate(ctx, db, []string{m1, m2}); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := sqlstore.Migrate(ctx, db, []string{m1, m2}); err != nil {
		t.Fatalf("Migrate with nothing to do: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM one`).Scan(&n); err != nil || n != 2 {
		t.Errorf("rows in one: %d, %v; want 2 (each migration ran once)", n, err)
	}
	if d := cmp.Diff([]int{1, 2}, storetest.Versions(t, db)); d != "" {
		t.Errorf("versions (-want +got):\n%s", d)
	}

	// A failing migration leaves neither its changes nor its version.
	if err := sqlstore.Migrate(ctx, db, []string{m1, m2, bad}); err == nil {
		t.Fatal("a failing migration was reported applied")
	}
	if d := cmp.Diff([]int{1, 2}, storetest.Versions(t, db)); d != "" {
		t.Errorf("versions after a failed migration (-want +got):\n%s", d)
	}
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM three`).Scan(&n)
	if err == nil {
		t.Error("a failed migration's table exists")
	}

	if err := sqlstore.Migrate(ctx, db, []string{m1}); err == nil {
		t.Error("Migrate with fewer migrations than applied succeeded")
	}
}

func TestPragmas(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "chatbus.db"))
	defer s.Close()
	for name, db := range map[string]*sql.DB{"write": s.Write, "read": s.Read} {
		var mode string
		var fk int
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%s pool: journal_mode %q, %v; want wal", name, mode, err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Errorf("%s pool: foreign_keys %d, %v; want 1", name, fk, err)
		}
	}
	// Foreign keys hold: no friendship with a user who does not exist.
	err := s.Update(ctx, func(tx chatbus.Tx) error {
		if err := tx.InsertUser(ctx, alice); err != nil {
			return err
		}
		return tx.InsertFriends(ctx, "alice", []string{"nobody"}, alice.JoinedAt)
	})
	if err == nil {
		t.Error("a friendship with a missing user was saved")
	}
}

func TestOpenFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "no-such-dir", "chatbus.db"))
	if err == nil {
		s.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
}

// TestOpenConcurrently: processes that open one new file at once (several
// backends starting together) each migrate it once, without failing.
func TestOpenConcurrently(t *testing.T) {
	for range 10 {
		path := filepath.Join(t.TempDir(), "chatbus.db")
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				s, err := sqlite.Open(context.Background(), path)
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("concurrent open: %v", err)
			}
		}
	}
}

// TestReadSeqMigration: a database from before read receipts counts what
// it holds as read, so an upgrade lights up no old room.
func TestReadSeqMigration(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "chatbus.db")
	migrations, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if err := sqlstore.Migrate(ctx, db, migrations[:2]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, email, name, password_hash, joined_at) VALUES ('a', 'a@x.com', 'A', 'h', 0), ('b', 'b@x.com', 'B', 'h', 0)`,
		`INSERT INTO rooms (id, name, created_at, last_seq, last_activity_at) VALUES (1, 'g', 0, 7, 0), (2, 'h', 0, 0, 0)`,
		`INSERT INTO room_members (room_id, user_id, position, joined_at) VALUES (1, 'a', 0, 0), (1, 'b', 1, 0), (2, 'a', 0, 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := open(t, path)
	defer s.Close()
	for room, want := range map[int64]map[string]int64{1: {"a": 7, "b": 7}, 2: {"a": 0}} {
		var got map[string]int64
		err := s.View(ctx, func(tx chatbus.Tx) (err error) { got, err = tx.ReadSeqs(ctx, room); return err })
		if d := cmp.Diff(want, got); err != nil || d != "" {
			t.Errorf("read positions of room %d after the upgrade (-want +got):\n%s %v", room, d, err)
		}
	}
}
