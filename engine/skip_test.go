package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// A committed record the index cannot hold — a value that no longer fits
// its field (written by an older version, or with another schema) — is
// left out and reported once; the index takes everything else and moves
// on, so one bad record never bricks an account.
func TestIndexSkipsWhatItCannotHold(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		now := time.Date(2026, 11, 28, 12, 0, 0, 0, indexSchema.Location())
		commit := func(changes func(a, b stepcast.FriendID) []store.Change) {
			t.Helper()
			err := st.Update(ctx, "acct", func(tx store.Tx) error {
				a, _, err := tx.AddFriend("Ua")
				if err != nil {
					return err
				}
				b, _, err := tx.AddFriend("Ub")
				if err != nil {
					return err
				}
				_, err = tx.Apply(changes(a.ID, b.ID)...)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		commit(func(a, b stepcast.FriendID) []store.Change {
			return []store.Change{
				{Friend: a, Kind: store.Follow, At: now},
				{Friend: a, Kind: store.SetField, Name: "age", Value: stepcast.StringValue("thirty")}, // age is an int
				{Friend: b, Kind: store.Follow, At: now},
				{Friend: b, Kind: store.SetField, Name: "age", Value: stepcast.IntValue(30)},
			}
		})
		ix := segment.NewIndex(indexSchema)
		cur, err := LoadIndex(ctx, st, "acct", ix)
		var se *SkippedError
		if !errors.As(err, &se) || !errors.Is(err, ErrSkipped) || len(se.Errs) != 1 {
			t.Fatalf("LoadIndex = %v, want one operation skipped", err)
		}
		count := func(src string) uint64 {
			t.Helper()
			n, err := segment.MustCompile(src, indexSchema).Count(ix, now)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count("following") != 2 || count("age == 30") != 1 || count(`has("age")`) != 1 {
			t.Errorf("after the load: %d following, %d aged 30, %d with an age", count("following"), count("age == 30"), count(`has("age")`))
		}
		commit(func(a, b stepcast.FriendID) []store.Change {
			return []store.Change{
				{Friend: b, Kind: store.SetField, Name: "age", Value: stepcast.BoolValue(true)},
				{Friend: a, Kind: store.SetTag, Name: "vip"},
			}
		})
		cur, err = catchUp(ctx, st, "acct", ix, cur)
		if !errors.As(err, &se) || len(se.Errs) != 1 {
			t.Fatalf("catchUp = %v, want one operation skipped", err)
		}
		if count(`tag("vip")`) != 1 || cur.Changes != 6 {
			t.Errorf("after catching up: %d vip, cursor %+v", count(`tag("vip")`), cur)
		}
		// Reported once: the cursor moved past it.
		if _, err := catchUp(ctx, st, "acct", ix, cur); err != nil {
			t.Errorf("a second catch-up: %v", err)
		}
		// An account on that store opens and serves.
		a := mustAccount(t, mustOpen(t, st, &clock{t: now}), "acct", Definitions{Schema: segment.SchemaConfig{
			Fields: []segment.Field{{Name: "age", Type: stepcast.FieldInt}}, Location: indexSchema.Location()}})
		if n := mustCount(t, a, `tag("vip")`); n != 1 {
			t.Errorf("the account counts %d vip", n)
		}
	})
}
