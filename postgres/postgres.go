// Package postgres is the store for a shared database: PostgreSQL through
// pgx (its database/sql driver, so that the SQL of package sqlstore serves
// both databases), with versioned migrations of its own.
//
// Unlike SQLite, PostgreSQL runs writers side by side. Write transactions are
// SERIALIZABLE, as chatbus.Store promises, and one that fails for it (a
// serialization failure or a deadlock) is run again by sqlstore; reads are
// REPEATABLE READ and read-only, one snapshot each.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/chatbus/chatbus/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the schema migrations in the order they apply.
func Migrations() ([]string, error) { return sqlstore.ReadMigrations(migrationFiles, "migrations") }

// IsURL tells whether db names a PostgreSQL database (postgres:// or
// postgresql://) rather than a SQLite file.
func IsURL(db string) bool {
	lower := strings.ToLower(db)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// SQLSTATE codes (PostgreSQL's appendix A).
const (
	uniqueViolation      = "23505"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// dialect: sqlstore's SQL already numbers its placeholders $1, $2 … as
// PostgreSQL does.
var dialect = sqlstore.Dialect{
	Rebind:            func(q string) string { return q },
	IsUniqueViolation: func(err error) bool { return sqlState(err) == uniqueViolation },
	Retryable: func(err error) bool {
		code := sqlState(err)
		return code == serializationFailure || code == deadlockDetected
	},
}

// Open connects to the database at url (postgres://user:password@host/db?…,
// any parameter pgx takes, e.g. sslmode or search_path) and migrates it.
// One pool serves reads and writes.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(url) // its errors do not show the password
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	n := max(8, 4*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	where := fmt.Sprintf("postgres database %q on %s:%d", cfg.Database, cfg.Host, cfg.Port)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	if err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", where, err)
	}
	return sqlstore.New(db, db, dialect,
		&sql.TxOptions{Isolation: sql.LevelSerializable},
		&sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}), nil
}

// Migrate applies the migrations not applied yet. Backends that start at
// once on one database take turns: each holds an advisory lock (per schema)
// while it migrates, so the second finds the work done. The lock belongs to
// a session, so a process that dies lets it go.
func Migrate(ctx context.Context, db *sql.DB) error {
	migrations, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	const key = `hashtext('chatbus migrate ' || COALESCE(current_schema(), ''))`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		// Without ctx: the lock must go even when ctx is done. A session
		// that cannot say it unlocked is closed, which unlocks.
		_, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`)
		if err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return sqlstore.Migrate(ctx, db, migrations)
}
