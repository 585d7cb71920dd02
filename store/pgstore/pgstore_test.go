package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stepcast/stepcast/internal/pgtest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/pgstore"
	"github.com/stepcast/stepcast/store/storetest"
)

// dsn returns the test database, or skips: CI sets STEPCAST_POSTGRES_DSN,
// so there these tests always run.
func dsn(t *testing.T) string {
	d := os.Getenv("STEPCAST_POSTGRES_DSN")
	if d == "" {
		t.Skip("STEPCAST_POSTGRES_DSN is not set; skipping the PostgreSQL tests")
	}
	return d
}

// freshSchema returns a new schema name and drops it when the test ends.
func freshSchema(t *testing.T) string {
	name := fmt.Sprintf("stepcast_test_%d", rand.Uint64())
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn(t))
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

type harness struct{ dsn string }

func (h harness) Open(ctx context.Context, t *testing.T) (store.Store, error) {
	return pgstore.Open(ctx, h.dsn, pgstore.Options{Schema: freshSchema(t)})
}
func (harness) Close() {}

func TestConformance(t *testing.T) {
	d := dsn(t)
	storetest.Run(t, func(context.Context, *testing.T) (storetest.Harness, error) { return harness{dsn: d}, nil }, storetest.Features{
		Another: func(ctx context.Context, _ *testing.T, s store.Store) (store.Store, error) {
			return pgstore.Open(ctx, d, pgstore.Options{Schema: s.(*pgstore.Store).Schema()})
		},
		Reopen: func(ctx context.Context, t *testing.T, s store.Store) (store.Store, error) {
			schema := s.(*pgstore.Store).Schema()
			s.Close()
			return pgstore.Open(ctx, d, pgstore.Options{Schema: schema})
		},
		Written: func(t *testing.T, s store.Store) string { return pgtest.Written(t, s.(*pgstore.Store)) },
	})
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	ctx := context.Background()
	d := dsn(t)
	schema := freshSchema(t)
	s, err := pgstore.Open(ctx, d, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "stepcast_schema"}.Sanitize()+" (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	_, err = pgstore.Open(ctx, d, pgstore.Options{Schema: schema})
	if !errors.Is(err, pgstore.ErrSchemaVersion) {
		t.Fatalf("Open on a newer schema = %v, want ErrSchemaVersion", err)
	}
}
