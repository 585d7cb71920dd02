package store_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stepcast/stepcast/internal/pgtest"
	"github.com/stepcast/stepcast/internal/synth"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/pgstore"
)

// tryRandomWrites makes one unit of work of random friends, changes,
// events and timers in account "acct" (synth.RandomUnit).
func tryRandomWrites(s store.Store, r *rand.Rand, now time.Time, nextEvent *int) error {
	return s.Update(context.Background(), "acct", func(tx store.Tx) error { return synth.RandomUnit(tx, r, now, nextEvent) })
}

// mustPG opens a PostgreSQL store (see pgtest.Open).
func mustPG(t testing.TB, schema string) *pgstore.Store { return pgtest.Open(t, schema) }

func mustBolt(t testing.TB) store.Store {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
