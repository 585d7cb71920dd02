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

func testFriendIDs(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 5)
	for i, id := range ids {
		if id != stepcast.FriendID(i+1) {
			t.Fatalf("friend %d got ID %d, want %d (dense from 1)", i, id, i+1)
		}
	}
	update(t, s, func(tx store.Tx) error {
		f, created, err := tx.AddFriend(user(2))
		if err != nil || created || f.ID != 3 {
			t.Errorf("AddFriend of a known user = %d, %v, %v; want 3, false", f.ID, created, err)
		}
		f, created, err = tx.AddFriend(user(99))
		if err != nil || !created || f.ID != 6 {
			t.Errorf("AddFriend of a new user = %d, %v, %v; want 6, true", f.ID, created, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if _, _, err := tx.AddFriend(""); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AddFriend(\"\") = %v, want ErrInvalid", err)
		}
		return nil
	})
}

func testFriendLookup(t *testing.T, s store.Store) {
	addFriends(t, s, 25)
	view(t, s, func(tx store.ReadTx) error {
		f, err := tx.FriendByUser(user(7))
		if err != nil || f.ID != 8 || f.User != user(7) {
			t.Errorf("FriendByUser = %+v, %v", f, err)
		}
		if _, err := tx.Friend(26); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Friend(26) = %v, want ErrNotFound", err)
		}
		if _, err := tx.Friend(0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Friend(0) = %v, want ErrNotFound", err)
		}
		if _, err := tx.FriendByUser("Unobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FriendByUser(unknown) = %v, want ErrNotFound", err)
		}
		var got []stepcast.FriendID
		after := stepcast.FriendID(0)
		for {
			page, err := tx.Friends(after, 10)
			if err != nil {
				return err
			}
			for _, f := range page {
				got = append(got, f.ID)
			}
			if len(page) < 10 {
				break
			}
			after = page[len(page)-1].ID
		}
		if len(got) != 25 || !slices.IsSorted(got) || got[0] != 1 {
			t.Errorf("paging returned %v", got)
		}
		return nil
	})
}

func testChanges(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 2)
	f := ids[0]
	changes := []store.Change{
		{Friend: f, Kind: store.Follow, At: t0},
		{Friend: f, Kind: store.SetTag, Name: "vip"},
		{Friend: f, Kind: store.SetTag, Name: "interest/beauty"},
		{Friend: f, Kind: store.SetTag, Name: "vip"}, // again: no duplicate
		{Friend: f, Kind: store.SetField, Name: "age", Value: stepcast.IntValue(34)},
		{Friend: f, Kind: store.SetField, Name: "area", Value: stepcast.StringValue("東京都")},
		{Friend: f, Kind: store.UnsetField, Name: "area"},
		{Friend: f, Kind: store.SetScore, Name: "lead", Number: 12},
		{Friend: f, Kind: store.EnterStep, Name: "trial", Number: 2},
		{Friend: f, Kind: store.SetVariant, Name: "welcome", Text: "B"},
		{Friend: f, Kind: store.SetProfile, Name: "ゆうこ", Text: "Asia/Tokyo"},
		{Friend: f, Kind: store.ClearVariant, Name: "old-test"},
		{Friend: ids[1], Kind: store.Follow, At: t0},
		{Friend: ids[1], Kind: store.Unfollow, At: t0.Add(time.Minute)},
	}
	var seqs []uint64
	update(t, s, func(tx store.Tx) error {
		var err error
		seqs, err = tx.Apply(changes[:5]...)
		if err != nil {
			return err
		}
		more, err := tx.Apply(changes[5:]...)
		seqs = append(seqs, more...)
		return err
	})
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("Seq of change %d = %d, want %d", i, seq, i+1)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Friend(f)
		if err != nil {
			return err
		}
		want := store.Friend{ID: f, User: user(0), DisplayName: "ゆうこ", TimeZone: "Asia/Tokyo", Following: true, FollowedAt: t0,
			Tags: []string{"interest/beauty", "vip"}, Fields: map[string]stepcast.Value{"age": stepcast.IntValue(34)},
			Scores: map[string]int64{"lead": 12}, Scenarios: map[string]int{"trial": 2}, Variants: map[string]string{"welcome": "B"}}
		if !sameFriend(got, want) {
			t.Errorf("friend after changes:\n got %+v\nwant %+v", got, want)
		}
		other, _ := tx.Friend(ids[1])
		if other.Following || !other.UnfollowedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("unfollowed friend: %+v", other)
		}
		last, err := tx.LastSeq()
		if err != nil || last != uint64(len(changes)) {
			t.Errorf("LastSeq = %d, %v; want %d", last, err, len(changes))
		}
		page, err := tx.Changes(10, 3)
		if err != nil || len(page) != 3 || page[0].Seq != 11 || page[2].Seq != 13 || page[1].Kind != changes[11].Kind {
			t.Errorf("Changes(10, 3) = %+v, %v", page, err)
		}
		if page[0].Name != "ゆうこ" || page[0].Text != "Asia/Tokyo" {
			t.Errorf("a change came back altered: %+v", page[0])
		}
		return nil
	})
}

func sameFriend(a, b store.Friend) bool {
	eqValues := func(x, y map[string]stepcast.Value) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !v.Equal(y[k]) {
				return false
			}
		}
		return true
	}
	return a.ID == b.ID && a.User == b.User && a.DisplayName == b.DisplayName && a.TimeZone == b.TimeZone &&
		a.Following == b.Following && a.FollowedAt.Equal(b.FollowedAt) && a.UnfollowedAt.Equal(b.UnfollowedAt) &&
		slices.Equal(a.Tags, b.Tags) && eqValues(a.Fields, b.Fields) && mapsEqual(a.Scores, b.Scores) &&
		mapsEqual(a.Scenarios, b.Scenarios) && mapsEqual(a.Variants, b.Variants)
}

func mapsEqual[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testRefusedChanges(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	bad := []struct {
		name string
		c    store.Change
		want error
	}{
		{"UnknownFriend", store.Change{Friend: 42, Kind: store.SetTag, Name: "x"}, store.ErrNotFound},
		{"UnknownKind", store.Change{Friend: ids[0], Kind: 200}, store.ErrInvalid},
		{"NoTagName", store.Change{Friend: ids[0], Kind: store.SetTag}, store.ErrInvalid},
		{"InvalidValue", store.Change{Friend: ids[0], Kind: store.SetField, Name: "age"}, store.ErrInvalid},
		{"FollowWithoutTime", store.Change{Friend: ids[0], Kind: store.Follow}, store.ErrInvalid},
		{"UnknownTimeZone", store.Change{Friend: ids[0], Kind: store.SetProfile, Text: "Mars/Olympus"}, store.ErrInvalid},
		{"NegativeStep", store.Change{Friend: ids[0], Kind: store.EnterStep, Name: "s", Number: -1}, store.ErrInvalid},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			err := s.Update(context.Background(), acct, func(tx store.Tx) error {
				_, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: "before"}, b.c)
				return err
			})
			if !errors.Is(err, b.want) {
				t.Fatalf("Apply = %v, want %v", err, b.want)
			}
			view(t, s, func(tx store.ReadTx) error {
				f, _ := tx.Friend(ids[0])
				last, _ := tx.LastSeq()
				if len(f.Tags) != 0 || last != 0 {
					t.Errorf("a refused change left tags %v and LastSeq %d", f.Tags, last)
				}
				return nil
			})
		})
	}
}

var errBoom = errors.New("boom")

func testRollback(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	err := s.Update(context.Background(), acct, func(tx store.Tx) error {
		if _, _, err := tx.AddFriend(user(50)); err != nil {
			return err
		}
		if _, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: "half"}); err != nil {
			return err
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "ev1", Friend: ids[0], Kind: "click", At: t0}); err != nil {
			return err
		}
		// The transaction sees its own writes.
		f, err := tx.Friend(ids[0])
		if err != nil || !slices.Equal(f.Tags, []string{"half"}) {
			t.Errorf("inside the tx: %+v, %v", f, err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.FriendByUser(user(50)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a rolled-back friend exists: %v", err)
		}
		f, _ := tx.Friend(ids[0])
		last, _ := tx.LastSeq()
		has, _ := tx.HasEvent("ev1")
		if len(f.Tags) != 0 || last != 0 || has {
			t.Errorf("rolled-back work is visible: tags %v, LastSeq %d, event %v", f.Tags, last, has)
		}
		return nil
	})
	// The ID of the rolled-back friend is not taken.
	update(t, s, func(tx store.Tx) error {
		f, _, err := tx.AddFriend(user(51))
		if err == nil && f.ID != 2 {
			t.Errorf("next ID after a rollback = %d, want 2", f.ID)
		}
		return err
	})
}

func testEvents(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	update(t, s, func(tx store.Tx) error {
		for i := range 5 {
			seq, err := tx.AppendEvent(stepcast.Event{ID: fmt.Sprintf("ev%d", i), Friend: ids[0], Kind: "click", Name: "url", At: t0.Add(time.Duration(i) * time.Minute)})
			if err != nil || seq != uint64(i+1) {
				t.Errorf("AppendEvent %d = %d, %v", i, seq, err)
			}
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "ev2", Friend: ids[0], Kind: "click", At: t0}); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("AppendEvent of a seen ID (same tx) = %v, want ErrDuplicate", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.AppendEvent(stepcast.Event{ID: "ev4", Friend: ids[0], Kind: "click", At: t0}); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("AppendEvent of a seen ID (later tx) = %v, want ErrDuplicate", err)
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "x", Friend: 99, Kind: "click", At: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendEvent for an unknown friend = %v, want ErrNotFound", err)
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "", Friend: ids[0], Kind: "click", At: t0}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AppendEvent without ID = %v, want ErrInvalid", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		_, err := tx.AppendEvent(stepcast.Event{ID: "buy", Friend: ids[0], Kind: stepcast.EventConversion, Name: "purchase", Value: "plan-a",
			Amount: 4980.5, Data: map[string]string{"route": "qr-7", "coupon": "WINTER"}, At: t0})
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		evs, _ := tx.Events(5, 10)
		if len(evs) != 1 || evs[0].Amount != 4980.5 || evs[0].Data["route"] != "qr-7" || evs[0].Kind != stepcast.EventConversion || len(evs[0].Data) != 2 {
			t.Errorf("an event with amount and data came back as %+v", evs)
			return nil
		}
		evs[0].Data["route"] = "mutated"
		again, _ := tx.Events(5, 10)
		if again[0].Data["route"] != "qr-7" {
			t.Errorf("the caller's edit of an event's data reached the store")
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		evs, err := tx.Events(2, 3)
		if err != nil || len(evs) != 3 || evs[0].Seq != 3 || evs[0].ID != "ev2" || !evs[2].At.Equal(t0.Add(4*time.Minute)) {
			t.Errorf("Events(2, 10) = %+v, %v", evs, err)
		}
		has, _ := tx.HasEvent("ev3")
		hasNot, _ := tx.HasEvent("nope")
		if !has || hasNot {
			t.Errorf("HasEvent = %v, %v", has, hasNot)
		}
		return nil
	})
}

// testFriendEvents: each friend's history, latest first, in pages, with
// the events of the running transaction.
func testFriendEvents(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 3)
	seqsOf := func(evs []store.Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	update(t, s, func(tx store.Tx) error {
		for i := range 12 { // friends 1, 2, 3, 1, 2, 3, …
			if _, err := tx.AppendEvent(stepcast.Event{ID: fmt.Sprintf("h%d", i), Friend: ids[i%3], Kind: "click", Name: "url", At: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		all, err := tx.FriendEvents(ids[1], 0, 100)
		if got := seqsOf(all); err != nil || !slices.Equal(got, []uint64{11, 8, 5, 2}) {
			t.Errorf("FriendEvents(friend 2) = %v, %v; want seqs 11 8 5 2", got, err)
		}
		if len(all) > 0 && (all[0].ID != "h10" || all[0].Friend != ids[1] || !all[0].At.Equal(t0.Add(10*time.Minute))) {
			t.Errorf("latest event of friend 2 = %+v", all[0])
		}
		page, _ := tx.FriendEvents(ids[1], 8, 2) // the page after seq 8
		if got := seqsOf(page); !slices.Equal(got, []uint64{5, 2}) {
			t.Errorf("FriendEvents(friend 2, before 8, 2) = %v, want 5 2", got)
		}
		if none, _ := tx.FriendEvents(ids[1], 2, 10); len(none) != 0 {
			t.Errorf("nothing lies before the first event, got %v", seqsOf(none))
		}
		if none, _ := tx.FriendEvents(99, 0, 10); len(none) != 0 {
			t.Errorf("an unknown friend has a history: %v", seqsOf(none))
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.AppendEvent(stepcast.Event{ID: "h12", Friend: ids[1], Kind: "click", At: t0.Add(time.Hour)}); err != nil {
			return err
		}
		evs, err := tx.FriendEvents(ids[1], 0, 2)
		if got := seqsOf(evs); err != nil || !slices.Equal(got, []uint64{13, 11}) {
			t.Errorf("within the transaction: %v, %v; want 13 11", got, err)
		}
		return nil
	})
}
