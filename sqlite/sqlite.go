// Package sqlite is the embedded default store: one SQLite file in WAL mode,
// through a pure-Go driver (no cgo), with versioned migrations.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"

	"github.com/chatbus/chatbus/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the schema migrations in the order they apply.
func Migrations() ([]string, error) { return sqlstore.ReadMigrations(migrationFiles, "migrations") }

var placeholder = regexp.MustCompile(`\$(\d+)`)

// dialect: SQLite numbers placeholders ?1, ?2 …; $1 would be a named one.
// It has no Retryable: with one writer at a time there are no serialization
// failures to run again (a writer waits for the lock, up to busy_timeout).
var dialect = sqlstore.Dialect{
	Rebind: func(q string) string { return placeholder.ReplaceAllString(q, "?$1") },
	IsUniqueViolation: func(err error) bool {
		return errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) || errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY)
	},
}

// Open opens (creating if needed) the database file at path and migrates it.
//
// SQLite allows one writer at a time, so writes go through a pool of one
// connection whose transactions begin IMMEDIATE (no deferred lock upgrades,
// hence no SQLITE_BUSY mid-transaction), and reads through a pool of their
// own that WAL lets run beside the writer. synchronous=NORMAL in WAL mode
// loses no committed transaction when the process crashes; only a power
// loss may take the last ones.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "synchronous(normal)", "foreign_keys(on)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: abs, RawQuery: q.Encode()}).String()

	write, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := setWAL(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	migrations, err := Migrations()
	if err == nil {
		err = sqlstore.Migrate(ctx, write, migrations)
	}
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	read, err := sql.Open("sqlite3", dsn)
	if err != nil {
		write.Close()
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	return sqlstore.New(write, read, dialect, nil, &sql.TxOptions{ReadOnly: true}), nil
}

// setWAL turns on WAL mode, which the file then keeps. Switching takes an
// exclusive lock that SQLite does not wait for, so processes opening one new
// file at once retry here.
func setWAL(ctx context.Context, db *sql.DB) error {
	var err error
	for wait := 10 * time.Millisecond; wait < 10*time.Second; wait *= 2 {
		var mode string
		if err = db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err == nil {
			if mode != "wal" {
				return fmt.Errorf("journal mode is %q, not wal", mode)
			}
			return nil
		}
		if !errors.Is(err, sqlite3.BUSY) && !errors.Is(err, sqlite3.LOCKED) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return err
}
