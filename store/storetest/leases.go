package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// testLeaseAfterRollback: a rolled-back unit of work leaves the queue as
// it was — a timer it created is not handed out, one it rewrote or
// deleted stays leased by its holder.
func testLeaseAfterRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := addFriends(t, s, 1)
	putTimers(t, s, ids[0], 2, t0) // k000 at t0, k001 at t0+1m
	now := t0.Add(time.Minute)
	held, err := s.Lease(ctx, acct, "a", now, 10*time.Minute, 1)
	if err != nil || len(held) != 1 || held[0].Key != "k000" {
		t.Fatalf("Lease = %+v, %v; want k000", held, err)
	}
	errRollback := errors.New("roll back")
	err = s.Update(ctx, acct, func(tx store.Tx) error {
		if _, err := tx.PutTimer(store.Timer{Friend: ids[0], Key: "k002", Due: t0}); err != nil {
			return err
		}
		tm := held[0]
		tm.Due = t0
		if _, err := tx.PutTimer(tm); err != nil { // releases the lease, in the tx
			return err
		}
		if err := tx.DeleteTimer(ids[0], "k001", 1); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update = %v, want the rollback", err)
	}
	for _, st := range []struct {
		name string
		now  time.Time
		want []string
	}{
		{"WhileHeld", now.Add(time.Minute), []string{"k001"}},
		{"AfterTheLeaseEnds", now.Add(10 * time.Minute), []string{"k000"}},
	} {
		got, err := s.Lease(ctx, acct, "b", st.now, time.Hour, 10)
		keys := []string{}
		for _, tm := range got {
			keys = append(keys, tm.Key)
		}
		if err != nil || !slices.Equal(keys, st.want) {
			t.Fatalf("%s: Lease = %v, %v; want %v", st.name, keys, err, st.want)
		}
	}
}

// testLeaseHeldAtAnEarlierNow: whether a lease has expired depends on the
// now of each Lease alone — a Lease at a later now (of another kind) does
// not free it for a Lease at an earlier one.
func testLeaseHeldAtAnEarlierNow(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := addFriends(t, s, 1)
	update(t, s, func(tx store.Tx) error {
		_, err := tx.PutTimer(store.Timer{Friend: ids[0], Key: "scenario/trial", Due: t0})
		return err
	})
	for _, st := range []struct {
		name   string
		holder string
		now    time.Time
		kinds  []string
		want   int
	}{
		{"Leased", "a", t0, nil, 1},
		{"LaterOtherKind", "b", t0.Add(time.Hour), []string{"reminder"}, 0},
		{"EarlierHeld", "b", t0.Add(5 * time.Minute), nil, 0},
		{"EarlierOfItsKindHeld", "b", t0.Add(5 * time.Minute), []string{"scenario"}, 0},
		{"ExpiredAtItsEnd", "b", t0.Add(10 * time.Minute), []string{"scenario"}, 1},
	} {
		got, err := s.Lease(ctx, acct, st.holder, st.now, 10*time.Minute, 10, st.kinds...)
		if err != nil || len(got) != st.want {
			t.Fatalf("%s: Lease = %d timers, %v; want %d", st.name, len(got), err, st.want)
		}
	}
}

// testIdleLeases: a Lease or LeaseDeliveries that finds nothing to hand
// out — an account the store does not hold, work due later, work of
// other kinds, work another holder leased, a limit of 0 — writes nothing,
// so that polling an idle account costs reads; one that hands something
// out writes.
func testIdleLeases(t *testing.T, s store.Store, written func() string) {
	ctx := context.Background()
	ttl := 10 * time.Minute
	ids := addFriends(t, s, 1)
	held := delivery("held", t0)
	later := delivery("later", t0)
	later.NextAt = t0.Add(time.Hour)
	update(t, s, func(tx store.Tx) error {
		for _, tm := range []store.Timer{
			{Friend: ids[0], Key: "scenario/trial", Due: t0.Add(time.Hour)},
			{Friend: ids[0], Key: "reminder/visit", Due: t0.Add(-time.Hour)},
			{Key: "custom/x", Due: t0.Add(-time.Hour)},
		} {
			if _, err := tx.PutTimer(tm); err != nil {
				return err
			}
		}
		for _, d := range []store.Delivery{held, later} {
			if _, err := tx.Enqueue(d); err != nil {
				return err
			}
		}
		return nil
	})
	if ts, err := s.Lease(ctx, acct, "other", t0, ttl, 10, "reminder"); err != nil || len(ts) != 1 {
		t.Fatalf("Lease by another holder = %d timers, %v; want the reminder", len(ts), err)
	}
	if ds, err := s.LeaseDeliveries(ctx, acct, "other", t0, ttl, 10); err != nil || len(ds) != 1 || ds[0].Key != held.Key {
		t.Fatalf("LeaseDeliveries by another holder = %v, %v; want %q", ds, err, held.Key)
	}
	before := written()
	for _, c := range []struct {
		name  string
		lease func() (int, error)
	}{
		{"TimersOfAnAccountNotHeld", func() (int, error) {
			ts, err := s.Lease(ctx, "nobody", "me", t0, ttl, 10)
			return len(ts), err
		}},
		{"DeliveriesOfAnAccountNotHeld", func() (int, error) {
			ds, err := s.LeaseDeliveries(ctx, "nobody", "me", t0, ttl, 10)
			return len(ds), err
		}},
		{"TimersDueLaterOrHeld", func() (int, error) {
			ts, err := s.Lease(ctx, acct, "me", t0, ttl, 10, "scenario", "reminder")
			return len(ts), err
		}},
		{"TimersOfAKindNotAskedFor", func() (int, error) {
			ts, err := s.Lease(ctx, acct, "me", t0, ttl, 10, "broadcast")
			return len(ts), err
		}},
		{"TimersWithALimitOf0", func() (int, error) {
			ts, err := s.Lease(ctx, acct, "me", t0, ttl, 0)
			return len(ts), err
		}},
		{"DeliveriesDueLaterOrHeld", func() (int, error) {
			ds, err := s.LeaseDeliveries(ctx, acct, "me", t0, ttl, 10)
			return len(ds), err
		}},
		{"DeliveriesWithALimitOf0", func() (int, error) {
			ds, err := s.LeaseDeliveries(ctx, acct, "me", t0.Add(time.Hour), ttl, 0)
			return len(ds), err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n, err := c.lease(); err != nil || n != 0 {
				t.Fatalf("leased %d, %v; want none", n, err)
			}
			if after := written(); after != before {
				t.Errorf("a lease that handed out nothing wrote: %s before, %s after", before, after)
			}
		})
	}
	// The mark sees a write: leases that hand something out change it.
	if ts, err := s.Lease(ctx, acct, "me", t0, ttl, 10); err != nil || len(ts) != 1 || ts[0].Key != "custom/x" {
		t.Fatalf("Lease = %v, %v; want custom/x", ts, err)
	}
	mid := written()
	if mid == before {
		t.Errorf("a lease that handed out a timer left the mark as it was: %s", mid)
	}
	// An hour on, the other holder's lease has expired too.
	if ds, err := s.LeaseDeliveries(ctx, acct, "me", t0.Add(time.Hour), ttl, 10); err != nil || len(ds) != 2 {
		t.Fatalf("LeaseDeliveries = %d deliveries, %v; want both", len(ds), err)
	}
	if after := written(); after == mid {
		t.Errorf("a lease that handed out a delivery left the mark as it was: %s", after)
	}
}
