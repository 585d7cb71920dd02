package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/stepcast/stepcast"
)

// TestUpdatesMatchRebuild: an index that friends' updates have gone
// through — values moving between bins, groups, postings and pages, set
// and unset, tags and scenario steps given and taken, some friends with
// IDs near 2^32 — answers every query as an index built from scratch from
// the friends' final state does, and as the oracle does.
func TestUpdatesMatchRebuild(t *testing.T) {
	defer func(old, few int) { minBinSplit, fewMax = old, few }(minBinSplit, fewMax)
	minBinSplit, fewMax = 8, 4 // split bins and turn slices into bitmaps on small data
	tokyo := mustLoad(t, "Asia/Tokyo")
	cfg := testSchemaConfig
	cfg.Location = tokyo
	schema := MustSchema(cfg)
	now := time.Date(2026, 11, 28, 15, 30, 0, 0, tokyo)
	cases := 300
	if testing.Short() {
		cases = 100
	}
	for seed := range uint64(2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 14))
			friends := genFriends(r, 600, now)
			for i, f := range friends[len(friends)-8:] { // sparse IDs, ascending
				f.id = 4_000_000_000 + uint32(i)*30_000_000
			}
			ix := NewIndex(schema)
			load(t, r, ix, friends)
			for round := range 6 {
				var b Batch
				for _, i := range r.Perm(len(friends))[:200] {
					friends[i] = updateFriend(r, &b, friends[i], now)
				}
				if err := ix.Apply(&b); err != nil {
					t.Fatal(err)
				}
				if round == 3 {
					ix.Compact()
				}
			}
			fresh := NewIndex(schema)
			load(t, r, fresh, friends)

			envs := make([]map[string]any, len(friends))
			saved := map[string]*vm.Program{}
			for i, f := range friends {
				envs[i] = oracleEnv(f, now, tokyo, saved)
			}
			for name, src := range oracleSaved {
				saved[name] = oracleCompile(t, src, envs[0])
			}
			g := exprGen{r, now}
			for range cases {
				e := g.expr(3)
				seg, err := Compile(e.src, schema)
				if err != nil {
					t.Fatalf("Compile(%q): %v", e.src, err)
				}
				want := oracleWant(t, e, seg, friends, envs)
				for name, x := range map[string]*Index{"updated": ix, "rebuilt": fresh} {
					bm, err := seg.Eval(x, now)
					if err != nil {
						t.Fatal(err)
					}
					if got := bm.ToArray(); !slices.Equal(got, want) {
						t.Fatalf("%s index: Eval(%q)\n got %v\nwant %v\noracle: %s", name, e.src, got, want, e.orc)
					}
					if n, _ := seg.Count(x, now); n != uint64(len(want)) {
						t.Fatalf("%s index: Count(%q) = %d, want %d", name, e.src, n, len(want))
					}
				}
			}
		})
	}
}

// updateFriend gives f a new random state, writing into b the operations that
// take the index there, and returns it. The follow history stays (an
// index keeps the last follow time); events only accumulate.
func updateFriend(r *rand.Rand, b *Batch, f *rawFriend, now time.Time) *rawFriend {
	nf := genFriends(r, 1, now)[0]
	nf.id, nf.followed, nf.followedAt = f.id, f.followed, f.followedAt
	nf.following = f.followed && r.IntN(3) != 0
	id := stepcast.FriendID(f.id)
	if nf.following {
		b.Follow(id, f.followedAt)
	} else {
		b.Unfollow(id)
	}
	for _, tag := range tagNames {
		if nf.tags[tag] {
			b.SetTag(id, tag)
		} else {
			b.ClearTag(id, tag)
		}
	}
	for _, name := range []string{"gender", "name", "age", "spend", "ratio", "birthday", "vip", "年齢層"} {
		if !nf.set[name] {
			b.UnsetField(id, name)
			continue
		}
		b.SetField(id, name, nf.value(name))
	}
	for _, s := range []string{"lead", "engagement"} {
		v := nf.scores[s]
		b.SetScore(id, s, v-7)
		b.AddScore(id, s, 7)
	}
	for _, e := range nf.events {
		b.RecordEvent(id, e.kind, e.name, e.value, e.at)
	}
	nf.events = append(slices.Clip(f.events), nf.events...)
	for _, sc := range []string{"s0", "s1"} {
		if st, ok := nf.steps[sc]; ok {
			b.SetScenarioStep(id, sc, st)
		} else {
			b.LeaveScenario(id, sc)
		}
	}
	if v, ok := nf.variants["e0"]; ok {
		b.SetVariant(id, "e0", v)
	} else {
		b.ClearVariant(id, "e0")
	}
	return nf
}

// TestAddScore: AddScore reads a friend without the score as 0 and
// saturates at the column's limits, whether the friend had a value or not
// (one lookup of the code column does both the read and the write).
func TestAddScore(t *testing.T) {
	schema := MustSchema(SchemaConfig{Scores: []string{"lead"}})
	cases := []struct {
		name   string
		set    bool // SetScore(start) first
		start  int64
		deltas []int64
		want   int64
	}{
		{"unset reads 0", false, 0, []int64{5}, 5},
		{"unset, negative", false, 0, []int64{-3, -4}, -7},
		{"set", true, 40, []int64{2, 3}, 45},
		{"back to 0", true, 4, []int64{-4}, 0},
		{"saturates high", true, math.MaxInt64 - 1, []int64{5, 1}, math.MaxInt64},
		{"saturates low", true, math.MinInt64 + 2, []int64{-5}, math.MinInt64 + 1},
		{"unset saturates low", false, 0, []int64{math.MinInt64 + 1, -1}, math.MinInt64 + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ix := NewIndex(schema)
			var b Batch
			b.Follow(1, time.Unix(0, 0))
			b.Follow(2, time.Unix(0, 0))
			if tc.set {
				b.SetScore(1, "lead", tc.start)
			}
			for _, d := range tc.deltas {
				b.AddScore(1, "lead", d)
			}
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			if got := ix.scores[0].get(1); got != tc.want {
				t.Errorf("score = %d, want %d", got, tc.want)
			}
			bm, _ := ix.scores[0].rangeBitmap(tc.want, tc.want, ix.known)
			if !bm.Contains(1) || (tc.want != 0 && bm.Contains(2)) {
				t.Errorf("range [%d, %d] holds %v", tc.want, tc.want, bm.ToArray())
			}
		})
	}
}
