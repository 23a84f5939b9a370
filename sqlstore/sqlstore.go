// Package sqlstore implements chatbus.Store over database/sql with portable
// SQL, for the sqlite and postgres packages, which own their connections,
// their dialect and their migrations.
//
// Times are stored as Unix milliseconds (BIGINT) so that both databases give
// back exactly the instant they were given, and the SQL stays one text.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatbus/chatbus"
)

// Dialect is what differs between the databases.
type Dialect struct {
	// Rebind turns the $1, $2 … placeholders used here into the database's.
	Rebind func(query string) string
	// IsUniqueViolation tells whether err is a unique-constraint violation.
	IsUniqueViolation func(err error) bool
	// Retryable tells whether a write transaction that failed with err may
	// succeed if run again from the start: a serialization failure or a
	// deadlock, where the database runs writers side by side (PostgreSQL).
	// Nil, or false for every error, where it does not (SQLite's one writer).
	Retryable func(err error) bool
}

// Store is a chatbus.Store over two pools: Write for Update (SQLite wants one
// writer connection), Read for View. They may be the same pool.
type Store struct {
	Write, Read *sql.DB
	Dialect     Dialect
	// WriteTx and ReadTx are the options of the transactions Update and View open.
	WriteTx, ReadTx *sql.TxOptions
	// Observe, when set, is told of every transaction (for metrics).
	Observe Observer

	rebound sync.Map // portable query → the dialect's, rebound once each

	mu     sync.Mutex
	stmts  map[stmtKey]*sql.Stmt // prepared once per pool and query
	closed bool

	retries atomic.Int64
}

type stmtKey struct {
	db *sql.DB
	q  string
}

// maxStmts bounds the prepared statements kept: queries with lists of
// varying length each have their own text.
const maxStmts = 200

// prepared returns q prepared on db, if it has been. Parsing a statement was
// a third of a write transaction's time.
func (s *Store) prepared(db *sql.DB, q string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stmts[stmtKey{db, q}]
}

// prepare prepares queries on db, to be used from then on. It must not be
// called inside a transaction of db: SQLite's writer pool has one
// connection, which the transaction holds.
func (s *Store) prepare(db *sql.DB, queries []string) {
	for _, q := range queries {
		k := stmtKey{db, q}
		s.mu.Lock()
		_, done := s.stmts[k]
		full := len(s.stmts) >= maxStmts
		s.mu.Unlock()
		if done || full {
			continue
		}
		// Outside any caller's context: the statement outlives the call.
		st, err := db.PrepareContext(context.Background(), s.rebind(q))
		if err != nil {
			continue // it keeps running unprepared, and reports its error
		}
		s.mu.Lock()
		_, done = s.stmts[k]
		unused := done || s.closed
		if !unused {
			if s.stmts == nil {
				s.stmts = map[stmtKey]*sql.Stmt{}
			}
			s.stmts[k] = st
		}
		s.mu.Unlock()
		// Closed outside s.mu: closing waits for every connection that holds
		// the statement, and one may be running a query that waits, in the
		// database, on a row locked by a transaction that waits for s.mu.
		if unused {
			st.Close()
		}
	}
}

// rebind returns q in the dialect's placeholders.
func (s *Store) rebind(q string) string {
	if r, ok := s.rebound.Load(q); ok {
		return r.(string)
	}
	r := s.Dialect.Rebind(q)
	s.rebound.Store(q, r)
	return r
}

var _ chatbus.Store = (*Store)(nil)

// Update runs fn in a write transaction (chatbus.Store). Where the dialect
// says a failure may pass if tried again (a serialization failure), the
// transaction is rolled back and fn runs again from the start, for up to
// RetryFor: fn must have no effect outside the transaction before it
// commits. In a Batch it is a savepoint, never retried alone: its error goes
// to the caller, and a retryable failure of the commit reruns the whole batch.
func (s *Store) Update(ctx context.Context, fn func(chatbus.Tx) error) error {
	if tx, ok := ctx.Value(batchKey{}).(*Tx); ok {
		return tx.savepoint(ctx, fn)
	}
	start := time.Now()
	err := s.write(ctx, fn)
	s.observe("update", start, err)
	return err
}

// RetryFor bounds how long a write transaction that keeps failing with
// retryable errors is run again; then its last error is returned. It is a
// time, not a few tries, because on PostgreSQL each commit to a hot row (a
// busy room's) fails every transaction waiting for that row, and the
// writer that just won is the likeliest to win again: with 8 writers posting
// to one room in a loop, one transaction in ~2,000 lost 25–29 times in a row
// (about half a second), and a bound of 10 tries failed in most runs.
const RetryFor = 10 * time.Second

// write runs fn in a write transaction, again while it fails in a way the
// dialect calls retryable, after a jittered pause that grows to 20 ms (so
// that writers that collided do not collide again in step).
func (s *Store) write(ctx context.Context, fn func(chatbus.Tx) error) error {
	pause, deadline := time.Millisecond, time.Now().Add(RetryFor)
	for {
		err := s.run(ctx, s.Write, s.WriteTx, fn)
		if err == nil || s.Dialect.Retryable == nil || !s.Dialect.Retryable(err) ||
			ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		s.retries.Add(1)
		t := time.NewTimer(pause/2 + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// Retries returns how many times a write transaction has been run again
// after a retryable failure.
func (s *Store) Retries() int64 { return s.retries.Load() }

type batchKey struct{}

var _ chatbus.Batcher = (*Store)(nil)

// Batch runs fn with a context under which every Update is a savepoint of
// one write transaction, committed when fn returns nil (chatbus.Batcher).
func (s *Store) Batch(ctx context.Context, fn func(context.Context) error) error {
	if _, ok := ctx.Value(batchKey{}).(*Tx); ok {
		return fn(ctx) // already in one
	}
	start := time.Now()
	err := s.write(ctx, func(tx chatbus.Tx) error {
		return fn(context.WithValue(ctx, batchKey{}, tx))
	})
	s.observe("batch", start, err)
	return err
}

func (s *Store) View(ctx context.Context, fn func(chatbus.Tx) error) error {
	start := time.Now()
	err := s.run(ctx, s.Read, s.ReadTx, fn)
	s.observe("view", start, err)
	return err
}

func (s *Store) run(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(chatbus.Tx) error) error {
	sqlTx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Rolling back after a commit is a no-op; after a panic in fn it gives
	// the connection back (SQLite's one writer connection, above all).
	defer sqlTx.Rollback()
	tx := &Tx{s: s, db: db, tx: sqlTx}
	// Queries seen for the first time are prepared once the transaction is
	// over, for the next ones.
	defer func() {
		if len(tx.unprepared) > 0 {
			sqlTx.Rollback()
			s.prepare(db, tx.unprepared)
		}
	}()
	if err := fn(tx); err != nil || tx.doomed != nil {
		if tx.doomed != nil {
			return tx.doomed // retryable: the caller runs it all again
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	s.mu.Lock()
	stmts := s.stmts
	s.stmts, s.closed = nil, true
	s.mu.Unlock()
	for _, st := range stmts { // outside s.mu, as in prepare
		st.Close()
	}
	err := s.Write.Close()
	if s.Read != s.Write {
		err = errors.Join(err, s.Read.Close())
	}
	return err
}

// ReadMigrations returns the .sql files of dir in fsys, in name order: a
// store's migrations, numbered 001_…, 002_….
func ReadMigrations(fsys fs.FS, dir string) ([]string, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		out[i] = string(b)
	}
	return out, nil
}

// Migrate applies, in order, the migrations not applied yet, each in its own
// transaction with its version row; the version is the migration's position.
// The version is read inside each write transaction, so processes that start
// on one database at once apply each migration exactly once.
func Migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for {
		done, err := migrateNext(ctx, db, migrations)
		if err != nil || done {
			return err
		}
	}
}

// migrateNext applies the next migration, if any; done is true when none is left.
func migrateNext(ctx context.Context, db *sql.DB, migrations []string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case version > len(migrations):
		return false, fmt.Errorf("database schema version %d is newer than this program's %d", version, len(migrations))
	case version == len(migrations):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, fmt.Errorf("migration %d: %w", version+1, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO schema_migrations (version) VALUES (%d)`, version+1)); err != nil {
		return false, fmt.Errorf("migration %d: %w", version+1, err)
	}
	return false, tx.Commit()
}

// placeholders returns "$from, $from+1, …" for n values.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

// New returns a Store over the two pools.
func New(write, read *sql.DB, d Dialect, writeTx, readTx *sql.TxOptions) *Store {
	return &Store{Write: write, Read: read, Dialect: d, WriteTx: writeTx, ReadTx: readTx}
}
