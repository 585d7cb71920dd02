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
// member counted and 1.9 built (BenchmarkProbeAnd). probeAny does the same
// for the union of several sets, whose members are all set in the bit
// array, so that an or of sparse sets is counted among sparse candidates
// without building the union.

// probeWorth reports whether probeAnd beats roaring for a ∩ b: both held
// in array containers (nine members in ten at least; roaring meets an
// array with a bitmap container by a lookup a member, cheaper than
// reading both) and within 64 times of each other in size (beyond that
// roaring gallops through the larger one instead of reading it all).
// Stats walks the containers, some 150 at 10M friends: under a
// microsecond.
func probeWorth(a, b *roaring.Bitmap) bool {
	return probeAnyWorth(a, []*roaring.Bitmap{b})
}

// probeAnyWorth reports whether probeAny beats roaring for counting look
// ∩ (sets[0] ∪ sets[1] ∪ …): probeWorth's test, with the sets' members
// together as the other side. Roaring would union the sets first, making a
// bitmap container of each block where they pass 1024 members together, or
// intersect look with each and union the parts.
func probeAnyWorth(look *roaring.Bitmap, sets []*roaring.Bitmap) bool {
	var sum uint64
	for _, bm := range sets {
		sum += bm.GetCardinality()
	}
	nl := look.GetCardinality()
	if small, large := min(nl, sum), max(nl, sum); small == 0 || small*64 < large {
		return false
	}
	for _, bm := range append([]*roaring.Bitmap{look}, sets...) {
		if !inArrays(bm) {
			return false
		}
	}
	return true
}

// inArrays reports whether nine members of bm in ten at least are held in
// array containers. Stats walks the containers, some 150 at 10M friends.
func inArrays(bm *roaring.Bitmap) bool {
	st := bm.Stats()
	return st.ArrayContainerValues*10 >= st.Cardinality*9
}

// probeAnyCost estimates probeAny for w candidates and the sets, when
// the planner takes it as probeAnyWorth would: the sets held in arrays,
// the candidates sparse on average (under 2048 members a container), and
// within 64 times of the sets' members; ok is false otherwise.
func (c *evalCtx) probeAnyCost(w float64, sets []*roaring.Bitmap) (cost float64, ok bool) {
	sum := 0.0
	for _, bm := range sets {
		if !inArrays(bm) {
			return 0, false
		}
		sum += card(bm)
	}
	if w/c.chunks() >= 2048 || min(w, sum) == 0 || min(w, sum)*64 < max(w, sum) {
		return 0, false
	}
	return costSetup + (w+sum)*costProbe, true
}

// costProbe is probeAny's cost a member of either side, counted
// (BenchmarkProbeAnd at 10M: 1.5-1.6 ns).
const costProbe = 1.6

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

// probeAnd counts a ∩ b and, with collect, returns its members in order:
// the smaller set's members are set, the larger's looked up.
func probeAnd(a, b *roaring.Bitmap, collect bool) (n uint64, ids []uint32) {
	if a.GetCardinality() > b.GetCardinality() {
		a, b = b, a
	}
	return probeAny(b, []*roaring.Bitmap{a}, collect)
}

// probeAny counts the members of look that are in any of sets (look ∩
// (sets[0] ∪ sets[1] ∪ …)) and, with collect, returns them in order. Block
// by block of look, every set's members of the block are set in one 8 KB
// bit array and look's members are looked up in it; blocks where no set
// has a member are skipped. Each set is read once, in ID order, so the
// union is never built: roaring's FastOr of sparse sets makes a bitmap
// container of each block where they pass 1024 members together (an
// 8 KB allocation each, some 2 µs at 10M), and merges arrays below that.
func probeAny(look *roaring.Bitmap, sets []*roaring.Bitmap, collect bool) (n uint64, ids []uint32) {
	var words [1024]uint64
	readers := make([]blockReader, len(sets))
	for i, bm := range sets {
		readers[i].start(bm)
	}
	var lr blockReader
	lr.start(look)
	for {
		block, ok := lr.block()
		if !ok {
			break
		}
		any := false
		for i := range readers {
			any = readers[i].set(&words, block) || any
		}
		if !any {
			lr.skip(block)
			continue
		}
		if collect {
			ids = lr.collect(&words, block, ids)
		} else {
			n += lr.count(&words, block)
		}
		clear(words[:])
	}
	if collect {
		n = uint64(len(ids))
	}
	return n, ids
}

// blockReader reads a bitmap's members in order, a 65536-ID block at a
// time, through roaring's ManyIterator.
type blockReader struct {
	it   roaring.ManyIntIterable
	buf  [256]uint32
	i, n int
}

func (r *blockReader) start(bm *roaring.Bitmap) {
	r.it = bm.ManyIterator()
	r.fill()
}

func (r *blockReader) fill() bool {
	r.n, r.i = r.it.NextMany(r.buf[:]), 0
	return r.n > 0
}

// block returns the block of the next member; ok is false at the end.
func (r *blockReader) block() (block uint32, ok bool) {
	if r.i == r.n && !r.fill() {
		return 0, false
	}
	return r.buf[r.i] >> 16, true
}

// set passes the members before block, sets block's members in words and
// reports whether there were any.
func (r *blockReader) set(words *[1024]uint64, block uint32) bool {
	any := false
	for {
		i, buf := r.i, r.buf[:r.n]
		for i < len(buf) && buf[i]>>16 < block {
			i++
		}
		j := i
		for ; j < len(buf) && buf[j]>>16 == block; j++ {
			x := buf[j]
			words[x>>6&1023] |= 1 << (x & 63)
		}
		any = any || j > i
		if r.i = j; j < len(buf) || !r.fill() {
			return any
		}
	}
}

// skip passes block's members.
func (r *blockReader) skip(block uint32) {
	for {
		for r.i < r.n && r.buf[r.i]>>16 == block {
			r.i++
		}
		if r.i < r.n || !r.fill() {
			return
		}
	}
}

// count passes block's members and returns how many are set in words.
func (r *blockReader) count(words *[1024]uint64, block uint32) (n uint64) {
	for {
		i, buf := r.i, r.buf[:r.n]
		for ; i < len(buf) && buf[i]>>16 == block; i++ {
			x := buf[i]
			n += words[x>>6&1023] >> (x & 63) & 1
		}
		if r.i = i; i < len(buf) || !r.fill() {
			return n
		}
	}
}

// collect passes block's members and appends those set in words to ids.
func (r *blockReader) collect(words *[1024]uint64, block uint32, ids []uint32) []uint32 {
	for {
		i, buf := r.i, r.buf[:r.n]
		for ; i < len(buf) && buf[i]>>16 == block; i++ {
			x := buf[i]
			if words[x>>6&1023]>>(x&63)&1 != 0 {
				ids = append(ids, x)
			}
		}
		if r.i = i; i < len(buf) || !r.fill() {
			return ids
		}
	}
}
