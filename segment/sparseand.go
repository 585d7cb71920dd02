package segment

import "github.com/RoaringBitmap/roaring/v2"

// Intersections of two sparse sets. Roaring intersects two array
// containers of comparable length by merging them, a branch on every
// member that the CPU mispredicts about half the time when few members
// match: 2.3-3.0 ns a member at 10M friends (the suite's g023, a tag of
// 89,328 friends and one of 254,357, 0.98 ms of its 1.04; g049 and g071
// alike). probeAnd sets the smaller set's members of one 65536-ID block in
// an 8 KB bit array, which stays in the L1 cache, and looks the larger
// set's members of that block up in it: no branch on the data, 1.4 ns a
// member counted and 1.9 built (BenchmarkProbeAnd).

// probeWorth reports whether probeAnd beats roaring for a ∩ b: both held
// in array containers (nine members in ten at least; roaring meets an
// array with a bitmap container by a lookup a member, cheaper than
// reading both) and within 64 times of each other in size (beyond that
// roaring gallops through the larger one instead of reading it all).
// Stats walks the containers, some 150 at 10M friends: under a
// microsecond.
func probeWorth(a, b *roaring.Bitmap) bool {
	na, nb := a.GetCardinality(), b.GetCardinality()
	small, large := min(na, nb), max(na, nb)
	if small == 0 || small*64 < large {
		return false
	}
	for _, bm := range [2]*roaring.Bitmap{a, b} {
		if st := bm.Stats(); st.ArrayContainerValues*10 < st.Cardinality*9 {
			return false
		}
	}
	return true
}

// andCardinality returns |a ∩ b|, by probeAnd where it beats roaring.
func (c *evalCtx) andCardinality(a, b *roaring.Bitmap) uint64 {
	if probeWorth(a, b) {
		return probeAndCardinality(a, b)
	}
	return a.AndCardinality(b)
}

// and returns a ∩ b as a new bitmap, by probeAnd where it beats roaring
// and the result is small: its members are added one by one (some 15 ns
// each), so it must be under a tenth of the sets' members, assuming them
// independent among the universe.
func (c *evalCtx) and(a, b *roaring.Bitmap) *roaring.Bitmap {
	na, nb := card(a), card(b)
	if na*nb/max(1, card(c.universe)) < (na+nb)/10 && probeWorth(a, b) {
		return probeAndBitmap(a, b)
	}
	return roaring.And(a, b)
}

// probeAndCardinality returns |a ∩ b|.
func probeAndCardinality(a, b *roaring.Bitmap) uint64 {
	n, _ := probeAnd(a, b, false)
	return n
}

// probeAndBitmap returns a ∩ b as a new bitmap.
func probeAndBitmap(a, b *roaring.Bitmap) *roaring.Bitmap {
	_, ids := probeAnd(a, b, true)
	out := roaring.New()
	out.AddMany(ids)
	return out
}

// probeAnd counts a ∩ b and, with collect, returns its members in order.
// Both sets are read once, in ID order, a block at a time.
func probeAnd(a, b *roaring.Bitmap, collect bool) (n uint64, ids []uint32) {
	if a.GetCardinality() > b.GetCardinality() {
		a, b = b, a // the smaller one is set, the larger looked up
	}
	var (
		words      [1024]uint64 // one block of the smaller set
		abuf, bbuf [256]uint32
	)
	ait, bit := a.ManyIterator(), b.ManyIterator()
	an, bn := ait.NextMany(abuf[:]), bit.NextMany(bbuf[:])
	ai, bi := 0, 0
	for an > 0 && bn > 0 {
		block := abuf[ai] >> 16
		// Set the smaller set's members of this block.
		for {
			for ; ai < an && abuf[ai]>>16 == block; ai++ {
				x := abuf[ai]
				words[x>>6&1023] |= 1 << (x & 63)
			}
			if ai < an {
				break
			}
			if an = ait.NextMany(abuf[:]); an == 0 {
				break
			}
			ai = 0
		}
		// Skip the larger set's earlier blocks, then look this one's up.
		for {
			for bi < bn && bbuf[bi]>>16 < block {
				bi++
			}
			if collect {
				for ; bi < bn && bbuf[bi]>>16 == block; bi++ {
					x := bbuf[bi]
					if words[x>>6&1023]>>(x&63)&1 != 0 {
						ids = append(ids, x)
					}
				}
			} else {
				for ; bi < bn && bbuf[bi]>>16 == block; bi++ {
					x := bbuf[bi]
					n += words[x>>6&1023] >> (x & 63) & 1
				}
			}
			if bi < bn {
				break
			}
			if bn = bit.NextMany(bbuf[:]); bn == 0 {
				break
			}
			bi = 0
		}
		clear(words[:])
	}
	if collect {
		n = uint64(len(ids))
	}
	return n, ids
}
