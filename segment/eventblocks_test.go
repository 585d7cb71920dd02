package segment

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestWindowPartsAgainstDays: the union of windowParts equals the union of
// the window's day bitmaps, for events recorded in any order, windows of
// every length and alignment, and events after the window's end; and the
// last-event blocks partition ever.
func TestWindowPartsAgainstDays(t *testing.T) {
	for _, tc := range []struct {
		name          string
		friends, span int
		ordered       bool
	}{
		{"in order, 60 days", 3000, 60, true},
		{"any order, 60 days", 3000, 60, false},
		{"any order, 400 days", 2000, 400, false},
		{"few friends, 1000 days", 50, 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.friends), uint64(tc.span)))
			p := &eventPostings{ever: roaring.New(), days: map[int64]*roaring.Bitmap{}, extra: map[uint64]uint32{}, last: newLastBlocks()}
			const base = 20_003 // not on a block boundary
			type ev struct {
				f   uint32
				day int64
			}
			var evs []ev
			for range tc.friends * 3 {
				evs = append(evs, ev{uint32(r.IntN(tc.friends)), base + int64(r.IntN(tc.span))})
			}
			if tc.ordered {
				slices.SortFunc(evs, func(a, b ev) int { return int(a.day - b.day) })
			}
			for _, e := range evs {
				p.add(e.f, e.day)
			}
			// Partition: every friend of ever in exactly one block per level.
			for _, level := range []map[int64]*roaring.Bitmap{p.last.by8, p.last.by64} {
				var parts []*roaring.Bitmap
				var sum uint64
				for _, bm := range level {
					parts = append(parts, bm)
					sum += bm.GetCardinality()
				}
				if u := roaring.FastOr(parts...); !u.Equals(p.ever) || sum != p.ever.GetCardinality() {
					t.Fatalf("blocks hold %d friends (union %d), ever %d", sum, u.GetCardinality(), p.ever.GetCardinality())
				}
			}
			for _, to := range []int64{base + int64(tc.span) - 1, base + int64(tc.span) + 5, base + int64(tc.span)/2} {
				for n := int64(1); n <= int64(tc.span)+10; n += 1 + n/16 {
					from := to - n + 1
					var want []*roaring.Bitmap
					for _, d := range p.window(from, to) {
						want = append(want, p.days[d])
					}
					got := orMany(p.windowParts(from, to))
					if w := orMany(want); !got.Equals(w) {
						t.Fatalf("window [%d, %d]: parts hold %d friends, days %d", from-base, to-base, got.GetCardinality(), w.GetCardinality())
					}
				}
			}
		})
	}
}
