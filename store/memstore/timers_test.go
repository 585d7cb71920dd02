package memstore_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
	"github.com/stepcast/stepcast/store/memstore"
)

// model is the naive timer queue the indexed one must agree with: a map,
// scanned and sorted on every Lease (memstore's own until it had indexes).
type model map[string]store.Timer

func modelKey(f stepcast.FriendID, key string) string { return fmt.Sprintf("%d\x00%s", f, key) }

func (m model) lease(holder string, now time.Time, ttl time.Duration, limit int, kinds []string) []store.Timer {
	var due []store.Timer
	for _, t := range m {
		if !t.Due.After(now) && (t.LeasedBy == "" || !t.LeaseUntil.After(now)) && backend.OfKind(t.Key, kinds) {
			due = append(due, t)
		}
	}
	slices.SortFunc(due, func(a, b store.Timer) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.Friend, b.Friend), cmp.Compare(a.Key, b.Key))
	})
	due = due[:min(limit, len(due))]
	for i := range due {
		due[i].LeasedBy, due[i].LeaseUntil = holder, now.Add(ttl).UTC().Truncate(time.Microsecond)
		m[modelKey(due[i].Friend, due[i].Key)] = due[i]
	}
	return due
}

func (m model) friend(f stepcast.FriendID) []store.Timer {
	var out []store.Timer
	for _, t := range m {
		if t.Friend == f {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b store.Timer) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

func describe(ts []store.Timer) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%d:%s due %s v%d %s until %s %s", t.Friend, t.Key, t.Due.Format(time.RFC3339Nano), t.Version,
			t.LeasedBy, t.LeaseUntil.Format(time.RFC3339Nano), t.State))
	}
	return out
}

// TestTimerIndexes runs random writes (some rolled back), leases (the
// clock going forward and, in some cases, back) and reads on memstore and
// on the naive model, and compares every answer.
func TestTimerIndexes(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		seed      uint64
		keys      []string
		kinds     []string
		clockBack bool
	}{
		{"OneKind", 1, []string{"scenario/a", "scenario/b", "scenario/c"}, []string{"scenario"}, false},
		{"RootKinds", 2, []string{"scenario/a", "reminder/x", "reminder/y", "scoring", "scoringx", "broadcast/s"}, []string{"scenario", "reminder", "scoring", "scoringx", "broadcast"}, false},
		{"KindsWithASlash", 3, []string{"a/x", "a/x/1", "a/y", "a", "ab", "/a", "b/z/w"}, []string{"a", "a/x", "a/y", "b/z", "ab", "/a", "a/x/1"}, false},
		{"ClockGoesBack", 4, []string{"a/x", "a/y", "b", "c/1", "c/2"}, []string{"a", "b", "c", "c/1"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(c.seed, 42))
			s := memstore.New()
			const acct = store.AccountID("acct")
			const friends = 6
			err := s.Update(ctx, acct, func(tx store.Tx) error {
				for i := range friends {
					if _, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%d", i))); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			m := model{}
			now := t0
			errRollback := errors.New("roll back")
			for op := range 3000 {
				switch r := rng.IntN(10); {
				case r < 5: // a unit of work: puts and deletes, a fifth rolled back
					rollback := rng.IntN(5) == 0
					next := maps.Clone(m)
					err := s.Update(ctx, acct, func(tx store.Tx) error {
						for range 1 + rng.IntN(4) {
							f := stepcast.FriendID(rng.IntN(friends + 1))
							key := c.keys[rng.IntN(len(c.keys))]
							cur, ok := next[modelKey(f, key)]
							if ok && rng.IntN(3) == 0 {
								if err := tx.DeleteTimer(f, key, cur.Version); err != nil {
									return err
								}
								delete(next, modelKey(f, key))
								continue
							}
							due := now.Add(time.Duration(rng.IntN(600)-300) * time.Second).Add(time.Duration(rng.IntN(1000)) * time.Nanosecond)
							tm := store.Timer{Friend: f, Key: key, Due: due, State: []byte(fmt.Sprint(op)), Version: cur.Version}
							v, err := tx.PutTimer(tm)
							if err != nil {
								return err
							}
							tm.Version, tm.Due = v, due.Truncate(time.Microsecond)
							next[modelKey(f, key)] = tm
						}
						if rng.IntN(2) == 0 { // the tx sees its own writes
							f := stepcast.FriendID(rng.IntN(friends + 1))
							got, err := tx.FriendTimers(f)
							if want := next.friend(f); err != nil || !slices.Equal(describe(got), describe(want)) {
								t.Fatalf("op %d: FriendTimers(%d) in the tx = %v, %v; want %v", op, f, describe(got), err, describe(want))
							}
						}
						if rollback {
							return errRollback
						}
						return nil
					})
					if rollback && !errors.Is(err, errRollback) || !rollback && err != nil {
						t.Fatalf("op %d: Update = %v", op, err)
					}
					if !rollback {
						m = next
					}
				case r < 8: // a lease
					step := time.Duration(rng.IntN(120)) * time.Second
					if c.clockBack && rng.IntN(3) == 0 {
						step = -step
					}
					now = now.Add(step).Add(time.Duration(rng.IntN(2000)) * time.Nanosecond)
					var kinds []string
					for _, k := range c.kinds {
						if rng.IntN(3) == 0 {
							kinds = append(kinds, k)
						}
					}
					if rng.IntN(4) == 0 {
						kinds = nil
					}
					holder := fmt.Sprintf("h%d", rng.IntN(3))
					ttl := time.Duration(1+rng.IntN(300)) * time.Second
					limit := rng.IntN(6)
					got, err := s.Lease(ctx, acct, holder, now, ttl, limit, kinds...)
					want := m.lease(holder, now, ttl, limit, kinds)
					if err != nil || !slices.Equal(describe(got), describe(want)) {
						t.Fatalf("op %d: Lease(%s, %q, limit %d) = %v, %v; want %v", op, now.Format(time.RFC3339Nano), kinds, limit, describe(got), err, describe(want))
					}
				default: // reads
					err := s.View(ctx, acct, func(tx store.ReadTx) error {
						for f := range stepcast.FriendID(friends + 2) {
							got, err := tx.FriendTimers(f)
							if want := m.friend(f); err != nil || !slices.Equal(describe(got), describe(want)) {
								t.Fatalf("op %d: FriendTimers(%d) = %v, %v; want %v", op, f, describe(got), err, describe(want))
							}
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}
