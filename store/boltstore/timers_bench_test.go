package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/storetest"
)

// openWithTimer opens a store whose account "acct" has friend 1 with
// timer "cap/day".
func openWithTimer(b testing.TB) *boltstore.Store {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "stepcast.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	// The account exists, with a timer of another friend: the miss is of
	// the key, not of the whole bucket.
	err = s.Update(context.Background(), "acct", func(tx store.Tx) error {
		if _, _, err := tx.AddFriend("U1"); err != nil {
			return err
		}
		_, err := tx.PutTimer(store.Timer{Friend: 1, Key: "cap/day", Due: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkTimerMiss(b *testing.B) { storetest.BenchTimerMiss(b, openWithTimer(b)) }

// A miss opens the timers bucket once per transaction, and formats no
// message: the key is its one allocation, and the error the other.
func TestTimerMissCheap(t *testing.T) { storetest.CheckTimerMissCheap(t, openWithTimer(t), 2) }
