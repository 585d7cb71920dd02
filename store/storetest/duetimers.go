package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// testDueTimers: DueTimers pages through the timers of one kind — a key
// equal to it or under it, not one that only starts like it —, friends'
// and the account's, leased or not, in the order of due work (keys byte by
// byte), after a cursor and due before a bound; a transaction sees its own
// writes in the pages; a limit not positive or a kind that is not a name
// finds none.
func testDueTimers(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := addFriends(t, s, 3)
	f1, f2, f3 := ids[0], ids[1], ids[2]
	never := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	update(t, s, func(tx store.Tx) error {
		for _, tm := range []store.Timer{
			{Friend: f1, Key: "reminder/a/bk-1", Due: t0.Add(time.Hour), State: []byte(`{"n":1}`)},
			{Friend: f2, Key: "reminder/a/bk-2", Due: t0.Add(time.Hour)},
			{Friend: f3, Key: "reminder/a/bk-3", Due: t0.Add(time.Hour)},
			{Friend: f2, Key: "reminder/a/bk-0", Due: t0.Add(30 * time.Minute)},
			{Friend: f1, Key: "reminder/a", Due: t0.Add(2 * time.Hour)}, // the kind itself
			{Friend: f1, Key: "reminder/a/a", Due: t0.Add(3 * time.Hour)},
			{Friend: f1, Key: "reminder/a/B", Due: t0.Add(3 * time.Hour)}, // before "a", byte by byte
			{Key: "reminder/a/account", Due: t0},                          // the account's
			{Friend: f3, Key: "reminder/a/ended", Due: never},
			{Friend: f2, Key: "reminder/ab/bk", Due: t0.Add(time.Hour)}, // another kind
			{Friend: f1, Key: "reminder/b/x", Due: t0.Add(time.Hour)},
			{Friend: f2, Key: "scoring", Due: t0.Add(time.Hour)},
		} {
			if _, err := tx.PutTimer(tm); err != nil {
				return err
			}
		}
		return nil
	})
	// Two of them leased: still listed.
	leased, err := s.Lease(ctx, acct, "h", t0.Add(30*time.Minute), time.Hour, 10, "reminder")
	if err != nil || len(leased) != 2 {
		t.Fatalf("Lease = %+v, %v; want 2", leased, err)
	}
	keys := func(ts []store.Timer) []string {
		out := []string{}
		for _, tm := range ts {
			out = append(out, fmt.Sprintf("%d:%s", tm.Friend, tm.Key))
		}
		return out
	}
	all := []string{"0:reminder/a/account", "2:reminder/a/bk-0", "1:reminder/a/bk-1", "2:reminder/a/bk-2", "3:reminder/a/bk-3",
		"1:reminder/a", "1:reminder/a/B", "1:reminder/a/a"}
	end := t0.Add(24 * time.Hour)
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.DueTimers("reminder/a", store.DuePos{}, end, 100)
		if err != nil || !slices.Equal(keys(got), all) {
			t.Errorf("DueTimers(reminder/a) = %v, %v; want %v", keys(got), err, all)
		}
		if i := slices.IndexFunc(got, func(tm store.Timer) bool { return tm.Key == "reminder/a/bk-1" }); i < 0 ||
			string(got[i].State) != `{"n":1}` || got[i].Version != 1 || !got[i].Due.Equal(t0.Add(time.Hour)) {
			t.Errorf("DueTimers' bk-1 = %+v, want it whole", got)
		}
		if i := slices.IndexFunc(got, func(tm store.Timer) bool { return tm.Key == "reminder/a/bk-0" }); i < 0 || got[i].LeasedBy != "h" {
			t.Errorf("DueTimers' leased bk-0 = %+v, want it leased by h", got)
		}
		// Pages of 3, each after the last one's place.
		var paged []store.Timer
		for after := (store.DuePos{}); ; {
			page, err := tx.DueTimers("reminder/a", after, end, 3)
			if err != nil {
				return err
			}
			paged = append(paged, page...)
			if len(page) < 3 {
				break
			}
			after = page[len(page)-1].Pos()
		}
		if !slices.Equal(keys(paged), all) {
			t.Errorf("DueTimers by pages of 3 = %v, want %v", keys(paged), all)
		}
		for _, c := range []struct {
			name   string
			kind   string
			after  store.DuePos
			before time.Time
			limit  int
			want   []string
		}{
			{"due before the bound only", "reminder/a", store.DuePos{}, t0.Add(time.Hour), 100, all[:2]},
			{"after a timer's place", "reminder/a", store.DuePos{Due: t0.Add(time.Hour), Friend: f2, Key: "reminder/a/bk-2"}, end, 2, all[4:6]},
			{"after a place no timer has", "reminder/a", store.DuePos{Due: t0.Add(time.Hour), Friend: f1, Key: "reminder/a/bk-10"}, end, 1, all[3:4]},
			{"ended ones up to never", "reminder/a", store.DuePos{Due: t0.Add(2 * time.Hour)}, never.Add(time.Microsecond), 100, append(slices.Clone(all[5:]), "3:reminder/a/ended")},
			{"the root kind", "reminder", store.DuePos{Due: t0.Add(time.Hour)}, t0.Add(2 * time.Hour), 100,
				[]string{"1:reminder/a/bk-1", "1:reminder/b/x", "2:reminder/a/bk-2", "2:reminder/ab/bk", "3:reminder/a/bk-3"}},
			{"a kind of none", "reminders", store.DuePos{}, end, 100, []string{}},
			{"limit 0", "reminder/a", store.DuePos{}, end, 0, []string{}},
			{"a negative limit", "reminder/a", store.DuePos{}, end, -1, []string{}},
			{"a kind that is not a name", "reminder/\x00", store.DuePos{}, end, 100, []string{}},
			{"the empty kind", "", store.DuePos{}, end, 100, []string{}},
		} {
			got, err := tx.DueTimers(c.kind, c.after, c.before, c.limit)
			if err != nil || !slices.Equal(keys(got), c.want) {
				t.Errorf("%s: DueTimers = %v, %v; want %v", c.name, keys(got), err, c.want)
			}
		}
		return nil
	})
	// A transaction's pages hold its own writes: a timer moved, one
	// deleted, one added, one of another kind changed.
	errRollback := errors.New("rollback")
	err = s.Update(ctx, acct, func(tx store.Tx) error {
		tm, err := tx.Timer(f3, "reminder/a/bk-3")
		if err != nil {
			return err
		}
		tm.Due = t0.Add(10 * time.Minute)
		if _, err := tx.PutTimer(tm); err != nil {
			return err
		}
		if err := tx.DeleteTimer(f1, "reminder/a/bk-1", 1); err != nil {
			return err
		}
		if _, err := tx.PutTimer(store.Timer{Friend: f3, Key: "reminder/a/new", Due: t0.Add(time.Hour)}); err != nil {
			return err
		}
		if _, err := tx.PutTimer(store.Timer{Friend: f1, Key: "reminder/b/x", Due: t0, Version: 1}); err != nil {
			return err
		}
		want := []string{"0:reminder/a/account", "3:reminder/a/bk-3", "2:reminder/a/bk-0", "2:reminder/a/bk-2", "3:reminder/a/new", "1:reminder/a"}
		for _, limit := range []int{1, 2, 4, 100} {
			var paged []store.Timer
			for after := (store.DuePos{}); len(paged) < len(want)+1; {
				page, err := tx.DueTimers("reminder/a", after, t0.Add(150*time.Minute), limit)
				if err != nil {
					return err
				}
				paged = append(paged, page...)
				if len(page) < limit {
					break
				}
				after = page[len(page)-1].Pos()
			}
			if !slices.Equal(keys(paged), want) {
				t.Errorf("DueTimers in the transaction by pages of %d = %v, want %v", limit, keys(paged), want)
			}
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update = %v", err)
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.DueTimers("reminder/a", store.DuePos{}, end, 100)
		if err != nil || !slices.Equal(keys(got), all) {
			t.Errorf("DueTimers after the rollback = %v, %v; want %v", keys(got), err, all)
		}
		return nil
	})
}

// testDuePos: the order of due work compares due times to the microsecond,
// then friends, then keys byte by byte.
func testDuePos(t *testing.T, _ store.Store) {
	at := t0.Add(time.Hour)
	for _, c := range []struct {
		name string
		p, q store.DuePos
		want int
	}{
		{"earlier due", store.DuePos{Due: t0, Friend: 9, Key: "z"}, store.DuePos{Due: at, Friend: 1, Key: "a"}, -1},
		{"the same microsecond", store.DuePos{Due: at.Add(999), Friend: 1, Key: "a"}, store.DuePos{Due: at, Friend: 1, Key: "a"}, 0},
		{"lower friend", store.DuePos{Due: at, Friend: 1, Key: "z"}, store.DuePos{Due: at, Friend: 2, Key: "a"}, -1},
		{"keys byte by byte", store.DuePos{Due: at, Friend: 1, Key: "a"}, store.DuePos{Due: at, Friend: 1, Key: "B"}, 1},
		{"the zero place first", store.DuePos{}, store.DuePos{Due: stepcast.MinEventTime}, -1},
	} {
		if got := c.p.Compare(c.q); got != c.want {
			t.Errorf("%s: Compare = %d, want %d", c.name, got, c.want)
		}
	}
}
