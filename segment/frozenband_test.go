package segment

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// TestMergeKeep: the member path's merge, gallop, bit test and bit listing
// against the obvious loops, on random ascending sets of every density.
func TestMergeKeep(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randSet := func(n int) []uint16 {
		seen := map[uint16]bool{}
		for len(seen) < n {
			seen[uint16(r.IntN(65536))] = true
		}
		out := make([]uint16, 0, n)
		for v := range seen {
			out = append(out, v)
		}
		slices.Sort(out)
		return out
	}
	marks := new([1024]uint64)
	for round := range 400 {
		cands := randSet(r.IntN(300))
		arr := randSet([]int{0, 5, 100, 4000, 20000}[round%5])
		words := make([]uint64, 1024)
		for _, v := range arr {
			words[v>>6] |= 1 << (v & 63)
		}
		for _, in := range []bool{true, false} {
			var want []uint16
			for _, v := range cands {
				if _, ok := slices.BinarySearch(arr, v); ok == in {
					want = append(want, v)
				}
			}
			if got := mergeKeep(slices.Clone(cands), arr, in, marks); !slices.Equal(got, want) || *marks != [1024]uint64{} {
				t.Fatalf("round %d: mergeKeep(in=%v) of %d among %d: %d members, want %d", round, in, len(cands), len(arr), len(got), len(want))
			}
			if got := bitKeep(slices.Clone(cands), words, in); !slices.Equal(got, want) {
				t.Fatalf("round %d: bitKeep(in=%v): %d members, want %d", round, in, len(got), len(want))
			}
		}
		for _, v := range cands {
			want, _ := slices.BinarySearch(arr, v)
			j := 0
			if want > 0 {
				j = r.IntN(want + 1)
			}
			if got := gallop(arr, j, v); got != want {
				t.Fatalf("round %d: gallop(%d from %d) = %d, want %d", round, v, j, got, want)
			}
		}
		dst := make([]uint32, 0, 4096+1)
		got := appendBits(dst, words[:32], 7<<16)
		var want []uint32
		for _, v := range arr {
			if v < 2048 {
				want = append(want, 7<<16|uint32(v))
			}
		}
		if !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("round %d: appendBits listed %d members, want %d", round, len(got), len(want))
		}
	}
}

// TestCountBands: ands of bands (ranges on ints, times and a score, their
// nots, a score's range that holds the friends without a value) with
// tags, counted and built by the one-pass kernel, against a model of the
// friends kept by hand; again after writes that move values between bins,
// unset them and set them anew, both before and after the sets are frozen
// again. Bins are kept large (minBinSplit), so that they are frozen in
// place as at 10M.
func TestCountBands(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	minBinSplit = 20_000
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	const n = 120_000
	r := rand.New(rand.NewPCG(3, 4))
	type friend struct {
		follows         bool
		age, spend      int64
		hasAge, hasSpnd bool
		born            time.Time
		lead            int64 // 0 for none: the score reads 0
		tagA            bool
	}
	friends := make([]friend, n)
	var b Batch
	set := func(f uint32) {
		fr := &friends[f]
		id := stepcast.FriendID(f)
		switch r.IntN(8) {
		case 0:
			b.UnsetField(id, "age")
			fr.hasAge = false
		default:
			fr.age, fr.hasAge = int64(r.IntN(90)), true
			b.SetField(id, "age", fr.age)
		}
		if r.IntN(10) == 0 {
			b.UnsetField(id, "spend")
			fr.hasSpnd = false
		} else {
			fr.spend, fr.hasSpnd = int64(r.IntN(100_000)), true
			b.SetField(id, "spend", fr.spend)
		}
		fr.born = now.AddDate(0, 0, -r.IntN(30_000))
		b.SetField(id, "birthday", fr.born)
		if r.IntN(3) > 0 {
			fr.lead = int64(r.IntN(200) - 20)
			b.SetScore(id, "lead", fr.lead)
		}
		if fr.tagA = r.IntN(3) > 0; fr.tagA {
			b.SetTag(id, "a")
		} else {
			b.ClearTag(id, "a")
		}
	}
	for f := range uint32(n) {
		friends[f].follows = f%17 != 0
		b.Follow(stepcast.FriendID(f), now)
		if !friends[f].follows {
			b.Unfollow(stepcast.FriendID(f))
		}
		set(f)
	}
	ix := NewIndex(schema)
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()

	type band struct {
		src  string
		keep func(fr *friend) bool
	}
	randBand := func() band {
		switch r.IntN(6) {
		case 4:
			x := int64(r.IntN(40))
			return band{fmt.Sprintf("age >= %d", x), func(fr *friend) bool { return fr.hasAge && fr.age >= x }}
		case 0:
			lo := int64(r.IntN(100))
			hi := lo + int64(r.IntN(30))
			return band{fmt.Sprintf("age in %d..%d", lo, hi), func(fr *friend) bool { return fr.hasAge && fr.age >= lo && fr.age <= hi }}
		case 1:
			lo := int64(r.IntN(100_000))
			hi := lo + int64(r.IntN([]int{300, 5000, 60_000}[r.IntN(3)]))
			return band{fmt.Sprintf("spend >= %d && spend < %d", lo, hi), func(fr *friend) bool { return fr.hasSpnd && fr.spend >= lo && fr.spend < hi }}
		case 2:
			x := int64(r.IntN(100_000))
			return band{fmt.Sprintf("spend >= %d", x), func(fr *friend) bool { return fr.hasSpnd && fr.spend >= x }}
		case 3:
			at := now.AddDate(0, 0, -r.IntN(30_000))
			day := at.Format("2006-01-02")
			from, _ := time.ParseInLocation("2006-01-02", day, schema.Location())
			return band{fmt.Sprintf(`birthday >= date(%q)`, day), func(fr *friend) bool { return !fr.born.Before(from) }}
		}
		x := int64(r.IntN(200) - 30) // holds 0, and so the friends without a score, when x <= 0
		return band{fmt.Sprintf(`score("lead") <= %d`, x), func(fr *friend) bool { return fr.lead <= x }}
	}
	type shape struct {
		src  string
		keep func(fr *friend) bool
	}
	var shapes []shape
	for range 60 {
		var srcs []string
		var keeps []func(fr *friend) bool
		for range 1 + r.IntN(3) {
			bd := randBand()
			if r.IntN(4) == 0 {
				keep := bd.keep
				bd = band{"!(" + bd.src + ")", func(fr *friend) bool { return !keep(fr) }}
			}
			if r.IntN(3) == 0 { // a band in a union: taken when it is whole bins (wholeBins)
				keep := bd.keep
				bd = band{"(" + bd.src + `) || tag("a")`, func(fr *friend) bool { return keep(fr) || fr.tagA }}
			}
			srcs, keeps = append(srcs, "("+bd.src+")"), append(keeps, bd.keep)
		}
		switch r.IntN(3) {
		case 0:
			srcs, keeps = append(srcs, `tag("a")`), append(keeps, func(fr *friend) bool { return fr.tagA })
		case 1:
			srcs, keeps = append(srcs, `!tag("a")`), append(keeps, func(fr *friend) bool { return !fr.tagA })
		}
		shapes = append(shapes, shape{strings.Join(srcs, " && "), func(fr *friend) bool {
			for _, k := range keeps {
				if !k(fr) {
					return false
				}
			}
			return true
		}})
	}
	// Ranges of whole bins in a union, which the one pass must take: every
	// age (no edge bin, no friend without one) or'd with a tag, and its not.
	whole := func(fr *friend) bool { return fr.hasAge || fr.tagA }
	shapes = append(shapes,
		shape{`(age >= 0 || tag("a")) && spend >= 50000`, func(fr *friend) bool { return whole(fr) && fr.hasSpnd && fr.spend >= 50000 }},
		shape{`!(age >= 0 || tag("a")) && spend >= 50000`, func(fr *friend) bool { return !whole(fr) && fr.hasSpnd && fr.spend >= 50000 }})
	check := func(stage string) {
		t.Helper()
		for _, s := range shapes {
			var want uint64
			for f := range friends {
				if friends[f].follows && s.keep(&friends[f]) {
					want++
				}
			}
			// A union with a band that cuts a bin goes the planner's way.
			mustTake := stage == "after Compact" && (!strings.Contains(s.src, "||") || strings.Contains(s.src, "age >= 0 ||"))
			checkOnePass(t, ix, now, stage, MustCompile(s.src, schema), want, mustTake)
		}
	}
	check("after Compact")
	for round := range 3 {
		b.Reset()
		for range 2000 {
			set(uint32(r.IntN(n)))
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		for call := range freezeAfterMisses + 1 {
			check(fmt.Sprintf("round %d, count %d after the writes", round, call+1))
		}
	}
}

// checkOnePass compares seg's Count and Eval at now with want and, with
// mustTake, fails unless the one-pass count takes seg's and.
func checkOnePass(t *testing.T, ix *Index, now time.Time, stage string, seg *Segment, want uint64, mustTake bool) {
	t.Helper()
	if a, ok := unsaved(seg.root).(*andNode); ok && mustTake {
		ix.mu.RLock()
		taken := seg.newCtx(ix, now, nil).frozenTerms(a.kids) != nil
		ix.mu.RUnlock()
		if !taken {
			t.Errorf("%s: the one pass does not take %s", stage, seg.Source())
		}
	}
	got, err := seg.Count(ix, now)
	if err != nil || got != want {
		t.Fatalf("%s: Count(%s) = %d (%v), want %d", stage, seg.Source(), got, err, want)
	}
	bm, err := seg.Eval(ix, now)
	if err != nil || bm.GetCardinality() != want {
		t.Fatalf("%s: Eval(%s) has %d (%v), want %d", stage, seg.Source(), bm.GetCardinality(), err, want)
	}
}
