// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the test server, dropped when the test ends.
//
// The server is CHATBUS_TEST_POSTGRES, by default the one of the development
// and CI machines (DefaultURL; .ci/run starts it). Where it cannot be reached
// the test is skipped with a message saying so — except when CI is set,
// where it fails: there, a missing server is a broken machine, not a reason
// to pass.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// DefaultURL is the test server where CHATBUS_TEST_POSTGRES is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Server connects to the test server and returns the connection and its
// URL, or skips (fails in CI) where there is none.
func Server(t testing.TB) (*sql.DB, string) {
	t.Helper()
	base := os.Getenv("CHATBUS_TEST_POSTGRES")
	if base == "" {
		base = DefaultURL
	}
	db, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("no PostgreSQL to test against (%v): start one on 127.0.0.1:5432 "+
			"(trust authentication, database test) or set CHATBUS_TEST_POSTGRES to a URL", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { db.Close() })
	return db, base
}

// URL creates an empty schema, dropped with all it holds when the test
// ends, and returns the server's URL with the schema as its search path.
func URL(t testing.TB) string {
	t.Helper()
	db, base := Server(t)
	name := "t_" + strings.ToLower(rand.Text()[:16])
	if _, err := db.ExecContext(context.Background(), `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("CHATBUS_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
