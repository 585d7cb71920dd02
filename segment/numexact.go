package segment

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// Bins aligned to values. A bin splits at its median as it grows, so on a
// column of few distinct keys (a score of 0–100, days since a purchase) a
// bin holds several keys and a range that ends inside one checks each of
// its members against the code column, where a bitmap per value would OR a
// few whole sets (issue 14: score("recency") in 9..14 and
// days_since(...) in 30..36 at 0.4–0.6× plain roaring). At Compact, a bin
// holding at most maxExactKeys distinct keys is split into one exact bin
// per key, so that any range with ends on those keys is a union of whole
// bins. Writers keep the bins as they are; a key written later into an
// exact bin widens it again until the next Compact (still correct: a
// range checks the members of a bin that is not exact).
//
// Cost: at most maxExactKeys bitmaps per bin instead of one, holding the
// same members: with 256 bins, at most 8192 bitmaps a column. It is paid
// only by columns whose bins hold few keys, where the edge checks were the
// cost of a range, and only where the keys' bitmaps are dense enough to
// cost at most maxExactExtra more heap than the bin's (Stats' estimate,
// binBytes): a key's members spread over every container of a bin hold
// some 70 bytes of container and allocator overhead in each. A score of
// 0–1000 held evenly (engagement: some 65 members a key in each container
// at 10M) would pay 20–30% more for its bins, 0.7 B a friend, and keeps
// multi-key bins; a score of 0–100 or a time in days pays a few percent.
const (
	maxExactKeys  = 32
	maxExactExtra = 0.125
)

// alignBins splits every bin of few distinct keys into exact bins.
func (c *numColumn) alignBins() {
	for _, g := range c.groups {
		for i := 0; i < len(g.bins); i++ {
			if split := c.exactSplit(g.bins[i]); split != nil {
				g.bins = slices.Insert(slices.Delete(g.bins, i, i+1), i, split...)
				c.reindex()
				i += len(split) - 1
			}
		}
	}
}

// exactSplit returns b as one exact bin per key, or nil if b is exact
// already, empty, holds more than maxExactKeys keys, or its exact bins
// would add more than maxExactExtra to its heap.
func (c *numColumn) exactSplit(b *bin) []*bin {
	if b.n == 0 || b.min == b.max {
		return nil
	}
	var keys []int64
	ids := map[int64][]uint32{}
	many := false
	each(b.members.bitmap(), func(fs []uint32) {
		if many {
			return
		}
		for _, f := range fs {
			k := c.get(f)
			l, ok := ids[k]
			if !ok {
				if len(keys) == maxExactKeys {
					many = true
					return
				}
				keys = append(keys, k)
			}
			ids[k] = append(l, f)
		}
	})
	if many || len(keys) < 2 {
		return nil
	}
	slices.Sort(keys)
	out := make([]*bin, len(keys))
	bytes := 0.0
	for i, k := range keys {
		bm := roaring.New()
		bm.AddMany(ids[k]) // ascending: members iterate in order
		bm = compacted(bm) // AddMany grows arrays as append does: up to 2× their values
		nb := &bin{lo: k, min: k, max: k, n: len(ids[k]), members: newDeferredSet(bm)}
		out[i] = nb
		bytes += binBytes(bm)
	}
	if bytes > (1+maxExactExtra)*binBytes(b.members.bitmap()) {
		return nil // the keys' bitmaps would be mostly containers' overhead
	}
	out[0].lo = b.lo // the first keeps the bin's lower bound: bins partition the keys
	return out
}
