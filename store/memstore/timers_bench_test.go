package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
	"github.com/stepcast/stepcast/store/storetest"
)

// seedTimers writes n timers over n/2 friends, all due by now: a tenth of
// kind "other", due before the rest, which are "scenario/course" and
// "reminder/r".
func seedTimers(b *testing.B, n int) (*memstore.Store, time.Time) {
	b.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := memstore.New()
	const page = 10_000
	for from := 0; from < n; from += page {
		err := s.Update(ctx, "acct", func(tx store.Tx) error {
			for i := from; i < min(from+page, n); i++ {
				if i%2 == 0 {
					if _, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%07d", i/2))); err != nil {
						return err
					}
				}
				key, due := "scenario/course", t0.Add(time.Duration(i)*time.Millisecond)
				switch {
				case i%10 == 0:
					key, due = "other", t0.Add(-time.Hour)
				case i%2 == 1:
					key = "reminder/r"
				}
				if _, err := tx.PutTimer(store.Timer{Friend: stepcast.FriendID(i/2 + 1), Key: key, Due: due}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, t0.Add(24 * time.Hour)
}

// BenchmarkLease: what a Tick does to its store per batch — lease 200 due
// timers of two kinds (a tenth of the timers, of another kind, due ahead
// of them) and rewrite them — at sizes that must cost alike per timer.
func BenchmarkLease(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("timers=%d", n), func(b *testing.B) {
			s, now := seedTimers(b, n)
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.Lease(ctx, "acct", "h", now, time.Minute, 200, "reminder", "scenario")
				if err != nil || len(got) != 200 {
					b.Fatalf("Lease = %d timers, %v", len(got), err)
				}
				err = s.Update(ctx, "acct", func(tx store.Tx) error {
					for _, tm := range got {
						tm.Due = tm.Due.Add(time.Microsecond) // due again, later
						if _, err := tx.PutTimer(tm); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*200), "ns/timer")
		})
	}
}

// BenchmarkFriendTimers reads one friend's timers among many.
func BenchmarkFriendTimers(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("timers=%d", n), func(b *testing.B) {
			s, _ := seedTimers(b, n)
			b.ReportAllocs()
			f := stepcast.FriendID(1)
			for b.Loop() {
				err := s.View(ctx, "acct", func(tx store.ReadTx) error {
					ts, err := tx.FriendTimers(f)
					if err == nil && len(ts) != 2 {
						err = fmt.Errorf("friend %d has %d timers, want 2", f, len(ts))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				f = f%stepcast.FriendID(n/2) + 1
			}
		})
	}
}

func BenchmarkTimerMiss(b *testing.B) { storetest.BenchTimerMiss(b, memstore.New()) }

func TestTimerMissCheap(t *testing.T) { storetest.CheckTimerMissCheap(t, memstore.New(), 1) }
