package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// TestIndexBlockedMeansFollowedOnce: an index rebuilt by LoadIndex or kept
// by CatchUp counts as blocked only friends who followed once and do not
// follow now — not someone known only through a conversion, nor one whose
// only change is a stray unfollow (issue 9).
func TestIndexBlockedMeansFollowedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) { testBlocked(t, open(t)) })
}

func testBlocked(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, indexSchema.Location())
	ids := map[string]stepcast.FriendID{}
	err := s.Update(ctx, "acct", func(tx store.Tx) error {
		for _, u := range []string{"follows", "blocked", "converted", "stray"} {
			f, _, err := tx.AddFriend(stepcast.UserID("U" + u))
			if err != nil {
				return err
			}
			ids[u] = f.ID
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "e1", Friend: ids["converted"], Kind: stepcast.EventConversion, Name: "purchase", At: now}); err != nil {
			return err
		}
		_, err := tx.Apply(
			store.Change{Friend: ids["follows"], Kind: store.Follow, At: now.Add(-time.Hour)},
			store.Change{Friend: ids["blocked"], Kind: store.Follow, At: now.Add(-2 * time.Hour)},
			store.Change{Friend: ids["blocked"], Kind: store.Unfollow, At: now.Add(-time.Hour)},
			store.Change{Friend: ids["converted"], Kind: store.SetField, Name: "age", Value: stepcast.IntValue(30)},
			store.Change{Friend: ids["stray"], Kind: store.Unfollow, At: now},
		)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	loaded := segment.NewIndex(indexSchema)
	if _, err := LoadIndex(ctx, s, "acct", loaded); err != nil {
		t.Fatal(err)
	}
	caught := segment.NewIndex(indexSchema)
	if _, err := catchUp(ctx, s, "acct", caught, Cursor{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  string
		want []stepcast.FriendID
	}{
		{`blocked`, []stepcast.FriendID{ids["blocked"]}},
		{`!following`, []stepcast.FriendID{ids["blocked"], ids["converted"], ids["stray"]}},
		{`following || blocked`, []stepcast.FriendID{ids["follows"], ids["blocked"]}},
		{`!following && followed_days >= 0`, []stepcast.FriendID{ids["blocked"]}},
	} {
		want := make([]uint32, len(c.want))
		for i, id := range c.want {
			want[i] = uint32(id)
		}
		slices.Sort(want)
		seg := segment.MustCompile(c.src, indexSchema)
		for how, ix := range map[string]*segment.Index{"LoadIndex": loaded, "CatchUp": caught} {
			bm, err := seg.Eval(ix, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := bm.ToArray(); !slices.Equal(got, want) {
				t.Errorf("%s: %s = %v, want %v", how, c.src, got, want)
			}
		}
	}
}
