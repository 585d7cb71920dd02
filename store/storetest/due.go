package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

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
