package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stepcast/stepcast/store"
)

// BenchTimerMiss measures a lookup of a timer that does not exist — what
// the dispatcher's guards do for most recipients (no frequency-cap or
// experiment state yet) —, which must stay cheap: a miss is an answer,
// not a failure worth formatting.
func BenchTimerMiss(b *testing.B, s store.Store) {
	ctx := context.Background()
	err := s.View(ctx, "acct", func(tx store.ReadTx) error {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tx.Timer(7, "cap/day"); !errors.Is(err, store.ErrNotFound) {
				b.Fatalf("Timer miss: %v", err)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// CheckTimerMissCheap fails t if a timer lookup that misses allocates
// more than allocs times (a formatted message would take several), or is
// not store.ErrNotFound naming the timer. Under the race detector, which
// allocates for itself, only the error is checked.
func CheckTimerMissCheap(t *testing.T, s store.Store, allocs float64) {
	t.Helper()
	err := s.View(context.Background(), "acct", func(tx store.ReadTx) error {
		var err error
		got := testing.AllocsPerRun(100, func() { _, err = tx.Timer(7, "cap/day") })
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), `timer 7/"cap/day"`) {
			t.Errorf("Timer miss: %v, want store.ErrNotFound naming the timer", err)
		}
		if got > allocs && !raceEnabled {
			t.Errorf("a Timer miss allocates %v times, want at most %v", got, allocs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
