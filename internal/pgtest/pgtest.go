// Package pgtest opens PostgreSQL stores for tests: on the database named
// by STEPCAST_POSTGRES_DSN (CI sets it), each test in a schema of its own
// that is dropped afterwards; without it the test skips with a message.
package pgtest

import (
	"context"
	"crypto/sha256"
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

// Written returns a mark of what has been written to the tables of s's
// schema: a digest of every row's place and transaction stamps (ctid,
// xmin, xmax), which any insert, update, delete or row lock changes. Two
// equal marks mean nothing was written in between — neither a row changed
// nor one locked, which is what takes a transaction ID.
func Written(t testing.TB, s *pgstore.Store) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, s.Schema())
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n := 0
	for _, table := range tables {
		var stamps []string
		err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(ctid::text || ' ' || xmin::text || ' ' || xmax::text ORDER BY ctid), '{}') FROM `+
			pgx.Identifier{s.Schema(), table}.Sanitize()).Scan(&stamps)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %q\n", table, stamps)
		n += len(stamps)
	}
	return fmt.Sprintf("%d rows in %d tables, %x", n, len(tables), h.Sum(nil)[:8])
}
