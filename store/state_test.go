package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// accountState is everything an export holds of an account, read through
// the store's own interfaces, normalized for comparison: times in UTC,
// empty collections as nil, versions and leases (which exports leave out)
// zeroed.
type accountState struct {
	Friends     []store.Friend
	Changes     []store.Change
	Events      []store.Event
	Timers      []store.Timer
	Definitions []store.Definition
	Tallies     []store.Tally
	Deliveries  []store.Delivery
}

func readState(t testing.TB, s store.Store, account store.AccountID) accountState {
	t.Helper()
	var st accountState
	err := s.View(context.Background(), account, func(tx store.ReadTx) error {
		var err error
		if st.Friends, err = tx.Friends(0, 1<<30); err != nil {
			return err
		}
		for i := range st.Friends {
			f := &st.Friends[i]
			f.FollowedAt, f.UnfollowedAt = f.FollowedAt.UTC(), f.UnfollowedAt.UTC()
			f.Tags, f.Fields, f.Scores, f.Scenarios, f.Variants = nilIfEmpty(f.Tags), nilIfEmpty(f.Fields), nilIfEmpty(f.Scores), nilIfEmpty(f.Scenarios), nilIfEmpty(f.Variants)
			timers, err := tx.FriendTimers(f.ID)
			if err != nil {
				return err
			}
			for _, tm := range timers {
				tm.Due, tm.State, tm.Version, tm.LeasedBy, tm.LeaseUntil = tm.Due.UTC(), nilIfEmpty(tm.State), 0, "", time.Time{}
				st.Timers = append(st.Timers, tm)
			}
		}
		if st.Changes, err = tx.Changes(0, 1<<30); err != nil {
			return err
		}
		for i := range st.Changes {
			st.Changes[i].At = st.Changes[i].At.UTC()
		}
		if st.Events, err = tx.Events(0, 1<<30); err != nil {
			return err
		}
		for i := range st.Events {
			e := &st.Events[i]
			e.At, e.Data = e.At.UTC(), nilIfEmpty(e.Data)
		}
		if st.Definitions, err = tx.Definitions(""); err != nil {
			return err
		}
		for i := range st.Definitions {
			d := &st.Definitions[i]
			d.Body, d.Version, d.UpdatedAt = nilIfEmpty(d.Body), 0, d.UpdatedAt.UTC()
		}
		if st.Tallies, err = tx.Tallies(""); err != nil {
			return err
		}
		for id := uint64(1); ; id++ {
			d, err := tx.Delivery(id)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			d.Payload, d.Friends, d.LeasedBy, d.LeaseUntil = nilIfEmpty(d.Payload), nilIfEmpty(d.Friends), "", time.Time{}
			d.NextAt, d.CreatedAt, d.DoneAt = d.NextAt.UTC(), d.CreatedAt.UTC(), d.DoneAt.UTC()
			st.Deliveries = append(st.Deliveries, d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type collection interface {
	~[]string | ~[]byte | ~[]stepcast.FriendID | ~map[string]stepcast.Value | ~map[string]int64 | ~map[string]int | ~map[string]string
}

func nilIfEmpty[C collection](c C) C {
	if len(c) == 0 {
		var zero C
		return zero
	}
	return c
}

// sameState compares two accounts record by record and reports the first
// difference in each section.
func sameState(t testing.TB, got, want accountState) {
	t.Helper()
	diff := func(section string, got, want any) {
		t.Helper()
		g, w := reflect.ValueOf(got), reflect.ValueOf(want)
		if g.Len() != w.Len() {
			t.Errorf("%s: %d records, want %d", section, g.Len(), w.Len())
		}
		for i := range min(g.Len(), w.Len()) {
			if a, b := g.Index(i).Interface(), w.Index(i).Interface(); !reflect.DeepEqual(a, b) {
				t.Errorf("%s[%d] differs:\n got %s\nwant %s", section, i, show(a), show(b))
				return
			}
		}
	}
	diff("friends", got.Friends, want.Friends)
	diff("changes", got.Changes, want.Changes)
	diff("events", got.Events, want.Events)
	diff("timers", got.Timers, want.Timers)
	diff("definitions", got.Definitions, want.Definitions)
	diff("tallies", got.Tallies, want.Tallies)
	diff("deliveries", got.Deliveries, want.Deliveries)
}

func show(v any) string {
	s := fmt.Sprintf("%+v", v)
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
