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
			checkLastBlocks(t, p, base, base+int64(tc.span)-1)
		})
	}
}

// checkLastBlocks checks that the last-event blocks partition ever and that
// windowParts' union equals the window's day bitmaps' for windows of every
// length ending on, after and before the last event day, for events on
// days first..last.
func checkLastBlocks(t *testing.T, p *eventPostings, first, last int64) {
	t.Helper()
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
	span := last - first + 1
	for _, to := range []int64{last, last + 5, first + span/2} {
		for n := int64(1); n <= span+10; n += 1 + n/16 {
			from := to - n + 1
			var want []*roaring.Bitmap
			for _, d := range p.window(from, to) {
				want = append(want, p.days[d])
			}
			got := orMany(p.windowParts(from, to))
			if w := orMany(want); !got.Equals(w) {
				t.Fatalf("window [%d, %d]: parts hold %d friends, days %d", from-first, to-first, got.GetCardinality(), w.GetCardinality())
			}
		}
	}
}

// TestLastBlocksSharedEver: when all last events lie in one 64-day block,
// compact makes that block the ever bitmap itself; writes in the block keep
// it shared, and a write in another block (a newer event of a known friend,
// or a new friend's older event) gives the block its own bitmap again,
// without the friend that does not belong to it.
func TestLastBlocksSharedEver(t *testing.T) {
	const block = 20_032 // the first day of a 64-day block
	for _, tc := range []struct {
		name   string
		friend uint32 // the friend of the diverging write
		day    int64
	}{
		{"a known friend's newer event", 7, block + 64 + 3},
		{"a new friend's newer event", 5000, block + 64 + 3},
		{"a new friend's older event", 5001, block - 10},
		{"a known friend's older event", 8, block - 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.friend)))
			p := &eventPostings{ever: roaring.New(), days: map[int64]*roaring.Bitmap{}, extra: map[uint64]uint32{}, last: newLastBlocks()}
			for range 3000 {
				p.add(uint32(2+r.IntN(1998)), block+20+int64(r.IntN(30)))
			}
			p.add(7, block+25) // the known friends of the cases
			p.add(8, block+25)
			p.last.compact(p.ever)
			if !p.last.sharedEver || p.last.by64[block>>6] != p.ever {
				t.Fatalf("one 64-day block after compact: shared %v", p.last.sharedEver)
			}
			for range 1000 { // new and known friends, earlier and later days in the block
				p.add(uint32(r.IntN(3000)), block+int64(r.IntN(64)))
			}
			if !p.last.sharedEver {
				t.Fatal("writes within the block unshared it")
			}
			checkLastBlocks(t, p, block, block+63)
			p.add(tc.friend, tc.day)
			if p.last.sharedEver || p.last.by64[block>>6] == p.ever {
				t.Fatal("a write in another block left the block shared")
			}
			checkLastBlocks(t, p, min(block, tc.day), max(block+63, tc.day))
			for range 500 {
				p.add(uint32(r.IntN(6000)), block-30+int64(r.IntN(130)))
			}
			checkLastBlocks(t, p, block-30, block+99)
		})
	}
}
