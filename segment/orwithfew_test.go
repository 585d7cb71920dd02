package segment

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestOrAmongCandidates: the union of parts among candidates is the union
// intersected with them, whichever way orWithFew takes (few parts, parts
// lying in a few containers each, many sparse parts set into a word array
// and the candidates looked up in it or, when they are many, intersected,
// runs, few-member slices), and the candidates are left as they were.
func TestOrAmongCandidates(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	spread := func(n, span int) *roaring.Bitmap {
		bm := roaring.New()
		for range n {
			bm.Add(uint32(r.IntN(span)))
		}
		return bm
	}
	for _, tc := range []struct {
		name         string
		parts, every int // parts of every members each
		span         int
		few          int // few-member slices
		run          bool
		candidates   int // 0: a twentieth of the span, at most 200,000
		wSpan        int // the candidates' IDs: 0 for the parts' span
	}{
		{"one part", 1, 5000, 1 << 22, 0, false, 0, 0},
		{"two parts", 2, 5000, 1 << 22, 0, false, 0, 0},
		{"few sparse parts", 6, 3000, 1 << 22, 0, false, 0, 0},
		{"many sparse parts: a word array", 90, 2000, 1 << 22, 0, false, 0, 0},
		{"many parts and a run", 40, 2000, 1 << 22, 0, true, 0, 0},
		{"a word array and many candidates", 90, 2000, 1 << 22, 0, false, 1 << 21, 0},
		{"few-member slices", 20, 1000, 1 << 22, 30, false, 0, 0},
		{"ids far beyond the members", 20, 500, 1 << 31, 0, false, 0, 0},
		// Many candidates: w written out as words and ANDed (wordsAnd),
		// unless its IDs reach far past the union's.
		{"many candidates beyond the union", 90, 2000, 1 << 22, 0, false, 1 << 21, 3 << 22},
		{"many candidates far beyond the union", 90, 2000, 1 << 22, 0, false, 1 << 21, 1 << 25},
		{"dense candidates and slices", 90, 2000, 1 << 22, 200, false, 3 << 20, 0},
		// Dense blocks in the result: copied, not views of the pooled
		// array, which is cleared as it goes back.
		{"a dense union among dense candidates", 90, 20000, 1 << 22, 0, false, 3 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var parts []*roaring.Bitmap
			for range tc.parts {
				parts = append(parts, spread(tc.every, tc.span))
			}
			if tc.run {
				run := roaring.New()
				run.AddRange(1000, 200_000)
				run.RunOptimize()
				parts = append(parts, run)
			}
			var few [][]uint32
			for range tc.few {
				few = append(few, spread(20, tc.span).ToArray())
			}
			n := tc.candidates
			if n == 0 {
				n = min(tc.span/20, 200_000)
			}
			wSpan := tc.wSpan
			if wSpan == 0 {
				wSpan = tc.span
			}
			w := spread(n, wSpan)
			w.AddRange(uint64(wSpan/2), uint64(wSpan/2+100_000)) // a run, and bitmap containers
			w.RunOptimize()
			before := w.Clone()
			want := orWithFew(parts, few)
			want.And(w)
			got := orWithFewAmong(parts, few, w)
			if !got.Equals(want) {
				t.Errorf("orWithFewAmong: %d members, want %d", got.GetCardinality(), want.GetCardinality())
			}
			if !w.Equals(before) {
				t.Errorf("the candidates changed")
			}
			// The pool's word arrays are given back zero.
			for range 4 {
				words := takeZeroWords(1 << 16)
				for i, x := range words {
					if x != 0 {
						t.Fatalf("a pooled word array holds %#x at %d", x, i)
					}
				}
				zeroWordArrays.Put(&words)
			}
		})
	}
}
