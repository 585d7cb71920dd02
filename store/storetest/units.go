package storetest

import (
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

func testIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, a := range []store.AccountID{"clinic", "gym"} {
		err := s.Update(ctx, a, func(tx store.Tx) error {
			for i := range 3 {
				if _, _, err := tx.AddFriend(user(i + len(a))); err != nil {
					return err
				}
			}
			_, err := tx.Apply(store.Change{Friend: 1, Kind: store.SetTag, Name: string(a)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.View(ctx, "gym", func(tx store.ReadTx) error {
		f, err := tx.Friend(1)
		if err != nil || !slices.Equal(f.Tags, []string{"gym"}) || f.User != user(3) {
			t.Errorf("gym's friend 1 = %+v, %v", f, err)
		}
		if _, err := tx.FriendByUser(user(6)); !errors.Is(err, store.ErrNotFound) { // clinic's
			t.Errorf("a clinic friend is visible in gym: %v", err)
		}
		last, _ := tx.LastSeq()
		if last != 1 {
			t.Errorf("gym's LastSeq = %d, want 1", last)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.Update(ctx, acct, func(tx store.Tx) error { ran = true; _, _, err := tx.AddFriend(user(1)); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.View(ctx, acct, func(store.ReadTx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("View with a canceled context = %v, want context.Canceled", err)
	}
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.FriendByUser(user(1)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a canceled update committed (fn ran: %v)", ran)
		}
		return nil
	})
}

func testOwnership(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	update(t, s, func(tx store.Tx) error {
		_, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: "a"},
			store.Change{Friend: ids[0], Kind: store.SetScore, Name: "lead", Number: 1})
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		f, _ := tx.Friend(ids[0])
		f.Tags[0] = "mutated"
		f.Scores["lead"] = 99
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		f, _ := tx.Friend(ids[0])
		if f.Tags[0] != "a" || f.Scores["lead"] != 1 {
			t.Errorf("the caller's edits reached the store: %+v", f)
		}
		return nil
	})
}

func testTimes(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	at := time.Date(2026, 11, 28, 18, 30, 15, 123456789, time.FixedZone("JST", 9*3600))
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.Follow, At: at}); err != nil {
			return err
		}
		_, err := tx.AppendEvent(stepcast.Event{ID: "e", Friend: ids[0], Kind: "click", At: at})
		return err
	})
	want := at.UTC().Truncate(time.Microsecond)
	view(t, s, func(tx store.ReadTx) error {
		f, _ := tx.Friend(ids[0])
		cs, _ := tx.Changes(0, 1)
		evs, _ := tx.Events(0, 1)
		for what, got := range map[string]time.Time{"FollowedAt": f.FollowedAt, "Change.At": cs[0].At, "Event.At": evs[0].At} {
			if !got.Equal(want) || got.Location() != time.UTC {
				t.Errorf("%s = %v, want %v in UTC", what, got, want)
			}
		}
		return nil
	})
}

func testConcurrent(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	var wg sync.WaitGroup
	const writers, each = 4, 25
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.Update(context.Background(), acct, func(tx store.Tx) error {
					if _, _, err := tx.AddFriend(user(1000 + w*each + i)); err != nil {
						return err
					}
					_, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: fmt.Sprintf("w%d-%d", w, i)})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx store.ReadTx) error {
		f, _ := tx.Friend(ids[0])
		last, _ := tx.LastSeq()
		all, _ := tx.Friends(0, 1000)
		if len(f.Tags) != writers*each || last != writers*each || len(all) != writers*each+1 {
			t.Errorf("after concurrent updates: %d tags, LastSeq %d, %d friends", len(f.Tags), last, len(all))
		}
		for i, g := range all {
			if g.ID != stepcast.FriendID(i+1) {
				t.Errorf("IDs are not dense: position %d has %d", i, g.ID)
				break
			}
		}
		return nil
	})
}

func testReopen(t *testing.T, s store.Store, reopen func(context.Context, *testing.T, store.Store) (store.Store, error)) {
	ids := addFriends(t, s, 3)
	update(t, s, func(tx store.Tx) error {
		_, err := tx.Apply(store.Change{Friend: ids[1], Kind: store.SetTag, Name: "kept"})
		return err
	})
	s2, err := reopen(context.Background(), t, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	view(t, s2, func(tx store.ReadTx) error {
		f, err := tx.Friend(ids[1])
		last, _ := tx.LastSeq()
		if err != nil || !slices.Equal(f.Tags, []string{"kept"}) || last != 1 {
			t.Errorf("after reopen: %+v, %v, LastSeq %d", f, err, last)
		}
		return nil
	})
}

func testBatch(t *testing.T, s store.Store, b store.Batcher) {
	var wg sync.WaitGroup
	const workers, each = 8, 20
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u := user(10_000 + w*each + i)
				err := b.Batch(context.Background(), acct, func(tx store.Tx) error {
					f, _, err := tx.AddFriend(u)
					if err != nil {
						return err
					}
					_, err = tx.Apply(store.Change{Friend: f.ID, Kind: store.SetTag, Name: "batched"})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx store.ReadTx) error {
		all, _ := tx.Friends(0, 10_000)
		last, _ := tx.LastSeq()
		if len(all) != workers*each || last != workers*each {
			t.Errorf("%d friends and %d changes after %d batched units", len(all), last, workers*each)
		}
		for i, f := range all {
			if f.ID != stepcast.FriendID(i+1) || len(f.Tags) != 1 {
				t.Errorf("friend %d: %+v", i+1, f)
				break
			}
		}
		return nil
	})
}
