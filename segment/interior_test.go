package segment

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestRangeInteriorWays checks each way interior builds a range's inside
// against a naive filter: the whole column less what lies outside; the
// groups a range cuts joined whole and their other bins taken away in
// place (takeAway), among dense candidates or none; and among sparse
// candidates, the union among them less one union of the other bins. The
// friends fill two containers so that candidates can be dense in them.
// Neither the candidates nor the column's sets may change.
func TestRangeInteriorWays(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	minBinSplit = 64
	const friends = 1 << 17
	for _, tc := range []struct {
		zero, followsIDs bool
	}{{false, false}, {true, false}, {false, true}} {
		zero := tc.zero
		t.Run(fmt.Sprintf("zero=%v/keys follow IDs=%v", zero, tc.followsIDs), func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, 12))
			c := newNumColumn(zero)
			keys := make([]int64, friends)
			has := make([]bool, friends)
			known := roaring.New()
			known.AddRange(0, friends)
			for f := range uint32(friends) {
				if r.IntN(8) == 0 {
					continue // no value
				}
				// Skewed like a score: small keys common, a long tail;
				// or rising with the IDs like a follow time, so that
				// groups and bins are runs of IDs.
				k := int64(r.ExpFloat64() * 12)
				if tc.followsIDs {
					k = int64(f) * 40 / friends
				}
				c.put(f, k)
				keys[f], has[f] = k, true
			}
			c.compact()
			runs := 0
			for _, g := range c.groups {
				if g.members.bitmap().HasRunCompression() {
					runs++
				}
			}
			if tc.followsIDs && runs == 0 {
				t.Fatal("no group holds runs: the case of run containers is not reached")
			}
			candidates := map[string]*roaring.Bitmap{"none": nil, "dense": roaring.New(), "sparse": roaring.New()}
			for f := range uint32(friends) {
				if r.IntN(3) > 0 {
					candidates["dense"].Add(f)
				}
				if r.IntN(40) == 0 {
					candidates["sparse"].Add(f)
				}
			}
			ways := map[string]int{}
			setBefore := c.set.Clone()
			for range 300 {
				lo := int64(r.IntN(40)) - 2
				hi := lo + int64(r.IntN(30))
				cv := c.rangePlan(lo, hi, known)
				for name, w := range candidates {
					switch {
					case cv.inN > cv.outN:
						ways["whole column less the outside"]++
					default:
						for _, cg := range cv.cut {
							if cg.inN > cg.outN {
								if sparseAmong(w, known) {
									ways["cut group among sparse candidates"]++
								} else {
									ways["cut group taken away in place"]++
								}
								break
							}
						}
					}
					want := roaring.New()
					for f := range uint32(friends) {
						if (has[f] || zero) && keys[f] >= lo && keys[f] <= hi && (w == nil || w.Contains(f)) {
							want.Add(f)
						}
					}
					var wBefore *roaring.Bitmap
					if w != nil {
						wBefore = w.Clone()
					}
					for _, among := range []bool{false, true} {
						got, _ := c.rangeAmong(cv, known, w, func(*bin) bool { return among })
						if !got.Equals(want) {
							t.Fatalf("[%d, %d] among %s candidates (edges among them %v): %d friends, want %d", lo, hi, name, among, got.GetCardinality(), want.GetCardinality())
						}
					}
					if w != nil && !w.Equals(wBefore) {
						t.Fatalf("[%d, %d]: the %s candidates changed", lo, hi, name)
					}
				}
			}
			if !c.set.Equals(setBefore) {
				t.Fatal("the column's set changed")
			}
			for _, g := range c.groups {
				union := roaring.New()
				for _, b := range g.bins {
					union.Or(b.members.bitmap())
				}
				if !g.members.bitmap().Equals(union) {
					t.Fatalf("group [%d, %d] no longer equals the union of its bins", g.min, g.max)
				}
			}
			for _, way := range []string{"whole column less the outside", "cut group taken away in place", "cut group among sparse candidates"} {
				if ways[way] == 0 {
					t.Errorf("no range took the way %q (%v)", way, ways)
				}
			}
			t.Log(ways)
		})
	}
}
