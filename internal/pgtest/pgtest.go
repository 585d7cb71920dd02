// Package pgtest opens PostgreSQL stores for tests: on the database named
// by STEPCAST_POSTGRES_DSN (CI sets it), each test in a schema of its own
// that is dropped afterwards; without it the test skips with a message.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stepcast/stepcast/store/pgstore"
)

// EnvDSN is the environment variable naming the test database.
const EnvDSN = "STEPCAST_POSTGRES_DSN"

// DSN returns the test database's DSN, or skips t when it is unset.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		t.Skip(EnvDSN + " is not set; skipping the PostgreSQL tests")
	}
	return dsn
}

// Open opens a store on schema, or on a fresh schema dropped when the test
// ends if schema is empty; the store is closed when the test ends.
func Open(t testing.TB, schema string) *pgstore.Store {
	t.Helper()
	dsn := DSN(t)
	if schema == "" {
		schema = fmt.Sprintf("stepcast_test_%d", rand.Uint64())
		t.Cleanup(func() {
			ctx := context.Background()
			if conn, err := pgx.Connect(ctx, dsn); err == nil {
				conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
				conn.Close(ctx)
			}
		})
	}
	s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
