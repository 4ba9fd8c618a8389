// Package storetest is the conformance suite every store backend passes,
// plus helpers that hand tests a fresh, empty database of each kind.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgres is the PostgreSQL server the tests use unless the
// environment variable VIGIL_TEST_POSTGRES names another.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// NewDB names a fresh, empty database for one test: the arguments to pass
// to store.Open. Every call returns a new database, removed when t ends.
type NewDB func(t testing.TB) (dsn, dataDir string)

// SQLite is a NewDB for an SQLite file in a temporary data_dir.
func SQLite(t testing.TB) (dsn, dataDir string) {
	t.Helper()
	return "sqlite", t.TempDir()
}

// Postgres is a NewDB for a fresh schema (vigil_test_<random>) in the
// server named by VIGIL_TEST_POSTGRES (default DefaultPostgres), selected
// through search_path in the returned DSN and dropped when t ends. When the
// server is unreachable the test is skipped, or fails when CI=true.
func Postgres(t testing.TB) (dsn, dataDir string) {
	t.Helper()
	base := os.Getenv("VIGIL_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres unreachable at %s (CI=true): %v", redact(base), err)
		}
		t.Skipf("postgres unreachable at %s: %v", redact(base), err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "vigil_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("VIGIL_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), filepath.Join(t.TempDir(), "unused")
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable dsn)"
	}
	return u.Redacted()
}
