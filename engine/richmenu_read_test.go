package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// TestFriendsOf: the records of a list of IDs, read as ranges where they
// are dense and one by one where sparse, through a FriendScanner or
// Friends pages: every friend the store has, in order, none it does not.
func TestFriendsOf(t *testing.T) {
	var ids []stepcast.FriendID
	for id := stepcast.FriendID(1); id <= 1500; id++ { // dense: longer than a page of Friends
		ids = append(ids, id)
	}
	ids = append(ids, 1600, 1700, 1701, 1703, 1720, 2400, 2999, 3000, 3001, 4000, 1<<31)
	want := slices.DeleteFunc(slices.Clone(ids), func(id stepcast.FriendID) bool { return id > 3000 })
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		seedFriends(t, st, 3000, func(int) bool { return false })
		for _, c := range []struct {
			name string
			ids  []stepcast.FriendID
		}{{"Mixed", ids}, {"Sparse", []stepcast.FriendID{5, 100, 2000}}, {"One", []stepcast.FriendID{3000}}, {"None", nil}} {
			t.Run(c.name, func(t *testing.T) {
				var got []stepcast.FriendID
				err := st.View(context.Background(), "acct", func(tx store.ReadTx) error {
					return friendsOf(tx, c.ids, func(f *store.Friend) error {
						if string(f.User) != fmt.Sprintf("U%032x", f.ID) || !f.Following {
							return fmt.Errorf("friend %d: %+v", f.ID, f)
						}
						got = append(got, f.ID)
						return nil
					})
				})
				w := slices.DeleteFunc(slices.Clone(c.ids), func(id stepcast.FriendID) bool { return id > 3000 })
				if c.name == "Mixed" {
					w = want
				}
				if err != nil || !slices.Equal(got, w) {
					t.Errorf("got %d friends (%v), want %d; %v", len(got), tail(got), len(w), err)
				}
			})
		}
	})
}

func tail(ids []stepcast.FriendID) []stepcast.FriendID { return ids[max(0, len(ids)-12):] }

// TestRichMenuConcurrentCalls: two calls under one name at once share the
// work — each transaction goes on from what the other committed — and
// between them queue every friend once.
func TestRichMenuConcurrentCalls(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		seedFriends(t, st, 12_000, func(int) bool { return false })
		a := mustAccount(t, mustOpen(t, st, &clock{t: t0}), "acct", menuDefs())
		reps := make([]RichMenuReport, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range reps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reps[i], errs[i] = a.LinkRichMenu(context.Background(), "both", menuA, `tag("member")`)
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || reps[0].Friends+reps[1].Friends != 12_000 || reps[0].Deliveries+reps[1].Deliveries != 24 {
			t.Fatalf("reports %+v, %+v; errors %v, %v", reps[0], reps[1], errs[0], errs[1])
		}
		seen := map[stepcast.FriendID]bool{}
		for _, row := range allDeliveries(t, a, "rich_menu:both") {
			for _, f := range row.Friends {
				if seen[f] {
					t.Fatalf("friend %d queued twice", f)
				}
				seen[f] = true
			}
		}
		if len(seen) != 12_000 {
			t.Errorf("%d friends queued", len(seen))
		}
	})
}
