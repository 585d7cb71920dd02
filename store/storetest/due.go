package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// testAccountTimers: timers of friend 0 belong to the account: they need no
// friend, are versioned, listed, leased and deleted like a friend's, and
// an export carries them.
func testAccountTimers(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error { // no friend exists
		for _, tm := range []store.Timer{
			{Key: "broadcast/spring-sale", Due: t0, State: []byte("segment=vip")},
			{Key: "abtest/welcome", Due: t0.Add(time.Hour)},
		} {
			if v, err := tx.PutTimer(tm); err != nil || v != 1 {
				t.Errorf("PutTimer(account's %s) = %d, %v; want version 1", tm.Key, v, err)
			}
		}
		if _, err := tx.PutTimer(store.Timer{Friend: 7, Key: "reminder/x", Due: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutTimer of an unknown friend = %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		tm, err := tx.Timer(0, "broadcast/spring-sale")
		if err != nil || tm.Friend != 0 || tm.Version != 1 || string(tm.State) != "segment=vip" || !tm.Due.Equal(t0) {
			t.Errorf("Timer(0, broadcast/spring-sale) = %+v, %v", tm, err)
		}
		all, err := tx.FriendTimers(0)
		if err != nil || len(all) != 2 || all[0].Key != "abtest/welcome" || all[1].Key != "broadcast/spring-sale" {
			t.Errorf("FriendTimers(0) = %+v, %v; want the account's 2, by key", all, err)
		}
		if f, err := tx.Friends(0, 10); err != nil || len(f) != 0 {
			t.Errorf("account timers made friends: %+v, %v", f, err)
		}
		return nil
	})
	leased, err := s.Lease(ctx, acct, "a", t0.Add(time.Minute), time.Minute, 10)
	if err != nil || len(leased) != 1 || leased[0].Friend != 0 || leased[0].Key != "broadcast/spring-sale" || leased[0].LeasedBy != "a" {
		t.Fatalf("Lease = %+v, %v; want the account's due broadcast", leased, err)
	}
	update(t, s, func(tx store.Tx) error {
		tm := leased[0]
		tm.Due = t0.Add(24 * time.Hour)
		if v, err := tx.PutTimer(tm); err != nil || v != 2 {
			t.Errorf("PutTimer at the leased version = %d, %v; want 2", v, err)
		}
		if _, err := tx.PutTimer(leased[0]); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutTimer at a stale version = %v, want ErrConflict", err)
		}
		if err := tx.DeleteTimer(0, "abtest/welcome", 2); !errors.Is(err, store.ErrConflict) {
			t.Errorf("DeleteTimer at a wrong version = %v, want ErrConflict", err)
		}
		return nil
	})
	// An export carries them: imported into another account, they are there.
	var b bytes.Buffer
	if err := store.Export(ctx, s, acct, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte(`{"timer":{"friend":0,"key":"abtest/welcome"`)) {
		t.Errorf("the export has no account timer:\n%s", b.Bytes())
	}
	const copied = store.AccountID("test-account-imported")
	if err := store.Import(ctx, s, copied, &b); err != nil {
		t.Fatalf("Import: %v", err)
	}
	err = s.View(ctx, copied, func(tx store.ReadTx) error {
		all, err := tx.FriendTimers(0)
		keys := []string{}
		for _, tm := range all {
			keys = append(keys, tm.Key)
		}
		if err != nil || !slices.Equal(keys, []string{"abtest/welcome", "broadcast/spring-sale"}) || !all[1].Due.Equal(t0.Add(24*time.Hour)) {
			t.Errorf("imported account timers = %+v, %v", all, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteTimer(0, "broadcast/spring-sale", 2); err != nil {
			t.Errorf("DeleteTimer(0, …) = %v", err)
		}
		if err := tx.DeleteTimer(0, "broadcast/spring-sale", 2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteTimer of a deleted timer = %v, want ErrNotFound", err)
		}
		return nil
	})
}

// testLeaseKinds: Lease with kinds hands out only timers whose key is a
// kind or starts with kind+"/", however many due timers of other kinds lie
// ahead; without kinds, every kind.
func testLeaseKinds(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := addFriends(t, s, 2)
	update(t, s, func(tx store.Tx) error {
		for i := range 300 { // due first
			if _, err := tx.PutTimer(store.Timer{Friend: ids[i%2], Key: fmt.Sprintf("reminder/r%03d", i), Due: t0.Add(time.Duration(i) * time.Second)}); err != nil {
				return err
			}
		}
		for _, tm := range []store.Timer{
			{Friend: ids[0], Key: "scoring", Due: t0.Add(time.Hour)},
			{Friend: ids[0], Key: "scoringx", Due: t0},                // not of kind "scoring"
			{Friend: ids[1], Key: "reminder", Due: t0.Add(time.Hour)}, // of kind "reminder"
			{Friend: ids[1], Key: "scenario/trial/2", Due: t0.Add(time.Hour)},
			{Key: "broadcast/spring-sale", Due: t0.Add(time.Hour)}, // the account's
			{Friend: ids[0], Key: "scoring/later", Due: t0.Add(3 * time.Hour)},
		} {
			if _, err := tx.PutTimer(tm); err != nil {
				return err
			}
		}
		return nil
	})
	now := t0.Add(2 * time.Hour)
	keys := func(ts []store.Timer) []string {
		out := []string{}
		for _, tm := range ts {
			out = append(out, fmt.Sprintf("%d:%s", tm.Friend, tm.Key))
		}
		return out
	}
	for _, c := range []struct {
		name  string
		limit int
		kinds []string
		want  []string
	}{
		{"OneKindBehind300Others", 10, []string{"scoring"}, []string{"1:scoring"}},
		{"AccountKind", 10, []string{"broadcast"}, []string{"0:broadcast/spring-sale"}},
		{"KindWithASlash", 10, []string{"scenario/trial"}, []string{"2:scenario/trial/2"}},
		{"TwoKinds", 10, []string{"reminder/r010", "scoringx"}, []string{"1:scoringx", "1:reminder/r010"}},
		{"AKeyItself", 10, []string{"reminder/r007"}, []string{"2:reminder/r007"}},
		{"NoneOfTheKind", 10, []string{"experiment", "remind"}, []string{}},
		{"KindAndLimit", 3, []string{"reminder"}, []string{"1:reminder/r000", "2:reminder/r001", "1:reminder/r002"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Lease(ctx, acct, "h-"+c.name, now, time.Minute, c.limit, c.kinds...)
			if err != nil || !slices.Equal(keys(got), c.want) {
				t.Fatalf("Lease(limit %d, %q) = %v, %v; want %v", c.limit, c.kinds, keys(got), err, c.want)
			}
		})
	}
	// Without kinds: every kind, earliest first; the 9 leased above stay
	// leased, scoring/later is not due.
	got, err := s.Lease(ctx, acct, "all", now, time.Minute, 1000)
	if err != nil || len(got) != 305-9 || got[0].Key != "reminder/r003" || got[len(got)-1].Key != "reminder" {
		t.Fatalf("Lease without kinds = %d timers (%v…), %v; want the 296 left, reminder/r003 first, reminder last", len(got), keys(got[:min(3, len(got))]), err)
	}
}

func testTimers(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 2)
	f := ids[0]
	due := time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.UTC)
	update(t, s, func(tx store.Tx) error {
		v, err := tx.PutTimer(store.Timer{Friend: f, Key: "scenario/trial", Due: due, State: []byte("step-1")})
		if err != nil || v != 1 {
			t.Errorf("PutTimer(new) = %d, %v; want version 1", v, err)
		}
		if _, err := tx.PutTimer(store.Timer{Friend: f, Key: "scenario/trial", Due: due}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutTimer(new) over an existing one = %v, want ErrConflict", err)
		}
		if _, err := tx.PutTimer(store.Timer{Friend: f, Key: "a-reminder", Due: due, Version: 3}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutTimer(version 3) of a missing timer = %v, want ErrConflict", err)
		}
		if _, err := tx.PutTimer(store.Timer{Friend: 99, Key: "k", Due: due}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutTimer for an unknown friend = %v, want ErrNotFound", err)
		}
		for _, bad := range []store.Timer{{Friend: f, Due: due}, {Friend: f, Key: "k"}} {
			if _, err := tx.PutTimer(bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("PutTimer(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		_, err = tx.PutTimer(store.Timer{Friend: f, Key: "reminder/booking-1", Due: due.Add(time.Hour)})
		return err
	})
	update(t, s, func(tx store.Tx) error {
		tm, err := tx.Timer(f, "scenario/trial")
		if err != nil || tm.Version != 1 || string(tm.State) != "step-1" || !tm.Due.Equal(due.Truncate(time.Microsecond)) {
			t.Errorf("Timer = %+v, %v", tm, err)
		}
		if _, err := tx.PutTimer(store.Timer{Friend: f, Key: "scenario/trial", Due: due, Version: 7}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutTimer at a stale version = %v, want ErrConflict", err)
		}
		tm.State, tm.Due = []byte("step-2"), due.Add(24*time.Hour)
		if v, err := tx.PutTimer(tm); err != nil || v != 2 {
			t.Errorf("PutTimer at the read version = %d, %v; want 2", v, err)
		}
		all, err := tx.FriendTimers(f)
		if err != nil || len(all) != 2 || all[0].Key != "reminder/booking-1" || all[1].Key != "scenario/trial" {
			t.Errorf("FriendTimers = %+v, %v (want 2, by key)", all, err)
		}
		if err := tx.DeleteTimer(f, "scenario/trial", 1); !errors.Is(err, store.ErrConflict) {
			t.Errorf("DeleteTimer at a stale version = %v, want ErrConflict", err)
		}
		if err := tx.DeleteTimer(f, "scenario/trial", 2); err != nil {
			t.Errorf("DeleteTimer = %v", err)
		}
		if err := tx.DeleteTimer(f, "scenario/trial", 2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteTimer of a deleted timer = %v, want ErrNotFound", err)
		}
		if _, err := tx.Timer(ids[1], "scenario/trial"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another friend's timer = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func putTimers(t *testing.T, s store.Store, f stepcast.FriendID, n int, first time.Time) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for i := range n {
			if _, err := tx.PutTimer(store.Timer{Friend: f, Key: fmt.Sprintf("k%03d", i), Due: first.Add(time.Duration(i) * time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
}

func testLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := addFriends(t, s, 1)
	putTimers(t, s, ids[0], 5, t0) // due t0, t0+1m, … t0+4m
	now := t0.Add(2 * time.Minute)
	got, err := s.Lease(ctx, acct, "engine-a", now, 10*time.Minute, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("Lease = %d timers, %v; want the 3 due", len(got), err)
	}
	for i, tm := range got {
		if tm.Key != fmt.Sprintf("k%03d", i) || tm.LeasedBy != "engine-a" || !tm.LeaseUntil.Equal(now.Add(10*time.Minute)) {
			t.Errorf("leased %+v", tm)
		}
	}
	if more, _ := s.Lease(ctx, acct, "engine-b", now, time.Minute, 10); len(more) != 0 {
		t.Fatalf("a second holder got %d leased timers", len(more))
	}
	// At t0+4m k003 and k004 are due and k000–k002 still leased.
	if lim, _ := s.Lease(ctx, acct, "engine-b", t0.Add(4*time.Minute), time.Minute, 1); len(lim) != 1 || lim[0].Key != "k003" {
		t.Fatalf("Lease with limit 1 = %+v; want k003 only", lim)
	}
	// engine-a finishes k000: writing it releases the lease.
	update(t, s, func(tx store.Tx) error {
		tm := got[0]
		tm.Due = t0.Add(time.Hour)
		_, err := tx.PutTimer(tm)
		return err
	})
	// After the leases expire (engine-a's at t0+12m, engine-b's k003 at
	// t0+5m), the rest go to whoever asks; k000 was rewritten for t0+1h.
	later := t0.Add(13 * time.Minute)
	again, err := s.Lease(ctx, acct, "engine-c", later, time.Minute, 10)
	keys := []string{}
	for _, tm := range again {
		keys = append(keys, tm.Key)
	}
	if err != nil || !slices.Equal(keys, []string{"k001", "k002", "k003", "k004"}) {
		t.Fatalf("Lease after expiry = %v, %v; want k001 k002 k003 k004", keys, err)
	}
	if none, err := s.Lease(ctx, "no-such-account", "x", later, time.Minute, 10); err != nil || len(none) != 0 {
		t.Fatalf("Lease on an empty account = %v, %v", none, err)
	}
}

// testLeaseConcurrent: holders lease and complete timers at once; one dies
// holding leases. Every timer is completed exactly once, the dead holder's
// after its leases expire.
func testLeaseConcurrent(t *testing.T, s store.Store, another func(context.Context, *testing.T, store.Store) (store.Store, error)) {
	ctx := context.Background()
	ids := addFriends(t, s, 1)
	const n = 120
	putTimers(t, s, ids[0], n, t0)
	now := t0.Add(3 * time.Hour) // everything is due
	// The dead holder takes 15 timers and never completes them.
	dead, err := s.Lease(ctx, acct, "dead", now, time.Minute, 15)
	if err != nil || len(dead) != 15 {
		t.Fatalf("dead holder's lease: %d, %v", len(dead), err)
	}
	var mu sync.Mutex
	done := map[string]int{}
	var wg sync.WaitGroup
	for h := range 4 {
		hs := s
		if another != nil {
			var err error
			if hs, err = another(ctx, t, s); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hs.Close() })
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("h%d", h)
			// Live holders lease for an hour; the second pass comes
			// after the dead holder's one-minute leases expire.
			for _, at := range []time.Time{now, now.Add(2 * time.Minute)} {
				for {
					got, err := hs.Lease(ctx, acct, holder, at, time.Hour, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						break
					}
					for _, tm := range got {
						err := hs.Update(ctx, acct, func(tx store.Tx) error { return tx.DeleteTimer(tm.Friend, tm.Key, tm.Version) })
						if err != nil {
							t.Errorf("%s completing %s: %v (handed out twice?)", holder, tm.Key, err)
							return
						}
						mu.Lock()
						done[tm.Key]++
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(done) != n {
		t.Fatalf("%d of %d timers completed", len(done), n)
	}
	for k, c := range done {
		if c != 1 {
			t.Fatalf("%s completed %d times", k, c)
		}
	}
}
