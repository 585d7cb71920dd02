package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast/store"
)

// testLeaseBoundary pins the instants at which work becomes due and a
// lease expires, for timers and deliveries alike: due at now == Due (or
// NextAt), held a nanosecond before LeaseUntil, expired at now ==
// LeaseUntil — the same on every backend.
func testLeaseBoundary(t *testing.T, s store.Store) {
	ctx := context.Background()
	const µs = time.Microsecond
	ttl := 10 * time.Minute
	ids := addFriends(t, s, 1)
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.PutTimer(store.Timer{Friend: ids[0], Key: "k", Due: t0}); err != nil {
			return err
		}
		_, err := tx.Enqueue(delivery("d", t0))
		return err
	})
	until := t0.Add(ttl)
	steps := []struct {
		name   string
		holder string
		now    time.Time
		want   bool // handed out
	}{
		{"NotDueAMicrosecondBefore", "a", t0.Add(-µs), false},
		{"DueAtTheInstant", "a", t0, true},
		{"HeldAMicrosecondBeforeItEnds", "b", until.Add(-µs), false},
		{"HeldANanosecondBeforeItEnds", "b", until.Add(-time.Nanosecond), false},
		{"ExpiredAtTheInstantItEnds", "b", until, true},
	}
	attempts := 0
	for _, st := range steps {
		timers, err := s.Lease(ctx, acct, st.holder, st.now, ttl, 10)
		if err != nil || (len(timers) == 1) != st.want || len(timers) > 1 {
			t.Fatalf("%s: Lease(now = LeaseUntil%+v) = %d timers, %v; want handed out: %v", st.name, st.now.Sub(until), len(timers), err, st.want)
		}
		deliveries, err := s.LeaseDeliveries(ctx, acct, st.holder, st.now, ttl, 10)
		if err != nil || (len(deliveries) == 1) != st.want || len(deliveries) > 1 {
			t.Fatalf("%s: LeaseDeliveries(now = LeaseUntil%+v) = %d deliveries, %v; want handed out: %v", st.name, st.now.Sub(until), len(deliveries), err, st.want)
		}
		if !st.want {
			continue
		}
		attempts++
		wantUntil := st.now.Add(ttl)
		if tm := timers[0]; tm.LeasedBy != st.holder || !tm.LeaseUntil.Equal(wantUntil) {
			t.Fatalf("%s: leased timer %+v; want held by %s until %v", st.name, tm, st.holder, wantUntil)
		}
		if d := deliveries[0]; d.LeasedBy != st.holder || !d.LeaseUntil.Equal(wantUntil) || d.Attempts != attempts {
			t.Fatalf("%s: leased delivery %+v; want held by %s until %v, attempt %d", st.name, d, st.holder, wantUntil, attempts)
		}
	}
}

// testLeaseLimit: a lease hands out at most limit timers or deliveries,
// and the rest to the next holder.
func testLeaseLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := addFriends(t, s, 1)
	putTimers(t, s, ids[0], 3, t0)
	update(t, s, func(tx store.Tx) error {
		for i := range 3 {
			if _, err := tx.Enqueue(delivery(fmt.Sprintf("d%d", i), t0)); err != nil {
				return err
			}
		}
		return nil
	})
	now := t0.Add(time.Hour)
	for _, want := range []int{2, 1, 0} {
		timers, err := s.Lease(ctx, acct, fmt.Sprintf("h%d", want), now, time.Hour, 2)
		if err != nil || len(timers) != want {
			t.Fatalf("Lease(limit 2) = %d timers, %v; want %d", len(timers), err, want)
		}
		deliveries, err := s.LeaseDeliveries(ctx, acct, fmt.Sprintf("h%d", want), now, time.Hour, 2)
		if err != nil || len(deliveries) != want {
			t.Fatalf("LeaseDeliveries(limit 2) = %d deliveries, %v; want %d", len(deliveries), err, want)
		}
	}
}
