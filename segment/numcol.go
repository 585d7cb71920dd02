package segment

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// numColumn indexes an int64-keyed value for every known friend.
//
// Three structures serve it. A code column holds each friend's key (for
// Match and for checking candidates), bit-packed by pages of friend IDs at
// the width the spread of the keys within a page needs (see codes). Fine
// bins partition the key space into contiguous ranges, each with the
// bitmap of its members; a bin splits
// at its median when it outgrows its share of the column, so there are
// a few hundred bins whatever the number of distinct values, and a range
// checks the members of at most two edge bins against the code column.
// Groups of consecutive bins keep the union of their bins as one more
// bitmap, dense enough to OR word by word, so the interior of a wide range
// costs a few group unions rather than ORing millions of sparse members.
// Sixteen groups keep wide ranges and bands cheap; eight would save 0.8
// bytes a friend a column but made ranges 30–60% dearer (issue 14).
// A bin whose members all share one key is exact and never needs checking.
type numColumn struct {
	// zero is set for scores: a friend without an explicit value reads 0
	// and lies in every range that holds 0. For fields it is not: a friend
	// without a value has no key and lies in no range.
	zero  bool
	codes codes           // keyCode of each friend's key; 0 for none
	set   *roaring.Bitmap // friends with an explicit value; only they are in bins
	// setFrozen is set's frozen form for counted bands (frozenband.go),
	// dropped when set changes.
	setFrozen frozenMirror
	groups    []*group // ordered by key; groups[0].bins[0].lo == math.MinInt64
	total     int      // friends in all bins
	// dayLoc is the schema's zone for a time column, whose bins are cut at
	// its local midnights (numdays.go); nil for other columns.
	dayLoc *time.Location
	// los is every bin's lower bound in key order, and at its group and
	// bin, for locate: one binary search over an array that stays in
	// cache, where searching the groups and then a group's bins loads a
	// group, its bins and a bin at every step (issue 14: locate was a
	// quarter of an int field update at 10M). Rebuilt by locate after
	// anything that changes the bins sets it to nil (reindex).
	los []int64
	at  []binAt
}

// binAt is where a bin of numColumn.los sits: group and bin index.
type binAt struct{ g, b uint32 }

// reindex drops locate's index after the bins or groups changed.
func (c *numColumn) reindex() { c.los, c.at = nil, nil }

// index builds locate's index of the bins' lower bounds.
func (c *numColumn) index() {
	n := 0
	for _, g := range c.groups {
		n += len(g.bins)
	}
	c.los, c.at = make([]int64, 0, n), make([]binAt, 0, n)
	for gi, g := range c.groups {
		for bi, b := range g.bins {
			c.los = append(c.los, b.lo)
			c.at = append(c.at, binAt{uint32(gi), uint32(bi)})
		}
	}
}

// group is a run of consecutive bins and the union of their members.
type group struct {
	bins     []*bin
	min, max int64 // bounds of the members' keys; may be loose after removals
	n        int
	members  *deferredSet // kept in bulk: see deferredSet
}

type bin struct {
	lo       int64 // the bin holds keys >= lo and < the next bin's lo
	min, max int64 // bounds of the members' keys; may be loose after removals
	n        int
	members  *deferredSet
}

func (g *group) lo() int64 { return g.bins[0].lo }

// Sizing: a bin splits when it holds more than twice its share of the
// column, total/targetBins, and a group when it holds more than twice
// total/targetGroups; never below minBinSplit members for a bin (tests lower
// it to exercise splitting on small data) or eight times that for a group.
const (
	targetBins   = 256
	targetGroups = 16
)

var minBinSplit = 4096

// newNumColumn returns an empty column; with zero, friends without an
// explicit value read 0 (scores), otherwise they have no value (fields).
func newNumColumn(zero bool) *numColumn {
	b := &bin{lo: math.MinInt64, members: newDeferredSet(roaring.New())}
	return &numColumn{
		zero:   zero,
		codes:  newCodes(),
		set:    roaring.New(),
		groups: []*group{{bins: []*bin{b}, members: newDeferredSet(roaring.New())}},
	}
}

// get returns f's key: its value, or 0 when it has none.
func (c *numColumn) get(f uint32) int64 {
	k, _ := c.lookup(f)
	return k
}

// lookup returns f's key and whether f is in ranges at all: f has a value,
// or the column reads 0 for friends without one.
func (c *numColumn) lookup(f uint32) (int64, bool) {
	v := c.codes.get(f)
	if v == 0 {
		return 0, c.zero
	}
	return codeKey(v), true
}

// keyCode maps keys to the column's values, in order: math.MinInt64, the
// one key Apply refuses, to 0 ("unset"), and every other key above it.
func keyCode(k int64) uint64 { return uint64(k) ^ 1<<63 }

func codeKey(v uint64) int64 { return int64(v ^ 1<<63) }

// inRange reports whether f has a key and it lies in [lo, hi].
func (c *numColumn) inRange(f uint32, lo, hi int64) bool {
	k, ok := c.lookup(f)
	return ok && k >= lo && k <= hi
}

// put sets f's key; f must be known.
func (c *numColumn) put(f uint32, k int64) {
	c.rebin(f, c.codes.swap(f, keyCode(k)), k)
}

// rebin moves f, whose code was old, to the bin of its new key k.
func (c *numColumn) rebin(f uint32, old uint64, k int64) {
	if old == 0 { // was unset: in no bin
		c.set.Add(f)
		c.setFrozen.drop()
		c.binAdd(f, k)
		return
	}
	if ok := codeKey(old); ok != k {
		c.move(f, ok, k)
	}
}

// add adds delta to f's key (a friend without a value reads 0),
// saturating at the column's limits; f must be known.
func (c *numColumn) add(f uint32, delta int64) {
	var k int64
	old := c.codes.update(f, func(v uint64) uint64 {
		if v != 0 {
			k = codeKey(v)
		}
		k = saturatingAdd(k, delta)
		return keyCode(k)
	})
	c.rebin(f, old, k)
}

// move moves f from key old to key k. Within one bin only the bounds
// change; between bins of one group the group's union stays as it is.
func (c *numColumn) move(f uint32, old, k int64) {
	g0, b0 := c.locate(old)
	g1, b1 := c.locate(k)
	if g0 != g1 {
		c.removeAt(f, g0, b0) // changes no bin boundary: g1, b1 stay valid
		c.addAt(f, k, g1, b1)
		return
	}
	g := c.groups[g0]
	widen(&g.min, &g.max, g.n, k)
	if b0 == b1 {
		b := g.bins[b0]
		widen(&b.min, &b.max, b.n, k)
		return
	}
	// f is in the bin of its old key and no other (bins partition the
	// keys), so the counts follow without asking the bitmaps.
	from, to := g.bins[b0], g.bins[b1]
	from.members.remove(f)
	from.n--
	to.members.add(f)
	widen(&to.min, &to.max, to.n, k)
	to.n++
	if to.n > max(minBinSplit, 2*c.total/targetBins) && to.min != to.max {
		c.splitBin(g, b1)
	}
}

// unset removes f's value.
func (c *numColumn) unset(f uint32) {
	if !c.set.CheckedRemove(f) {
		return
	}
	c.setFrozen.drop()
	c.binRemove(f, codeKey(c.codes.swap(f, 0)))
}

// unsetIn reports whether the friends without an explicit value belong to
// [lo, hi]: only in a column that reads them as 0, and when 0 is in it.
func (c *numColumn) unsetIn(lo, hi int64) bool { return c.zero && lo <= 0 && 0 <= hi }

// locate returns the group and bin that hold key k.
func (c *numColumn) locate(k int64) (gi, bi int) {
	if c.los == nil {
		c.index()
	}
	// A hand-written binary search: every update locates twice, and
	// sort.Search's calls through a closure cost more than the search.
	los := c.los
	lo, hi := 0, len(los) // the first bin whose lower bound is > k
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if los[m] > k {
			hi = m
		} else {
			lo = m + 1
		}
	}
	at := c.at[lo-1] // los[0] == math.MinInt64 <= k
	return int(at.g), int(at.b)
}

func (c *numColumn) binAdd(f uint32, k int64) {
	gi, bi := c.locate(k)
	c.addAt(f, k, gi, bi)
}

// addAt adds f, of key k, to bin bi of group gi, which hold k.
func (c *numColumn) addAt(f uint32, k int64, gi, bi int) {
	g := c.groups[gi]
	b := g.bins[bi]
	b.members.add(f) // f had no key, or one outside this group: in no bin here
	widen(&b.min, &b.max, b.n, k)
	b.n++
	g.members.add(f)
	widen(&g.min, &g.max, g.n, k)
	g.n++
	c.total++
	if b.n > max(minBinSplit, 2*c.total/targetBins) && b.min != b.max {
		c.splitBin(g, bi)
	}
	if g.n > max(8*minBinSplit, 2*c.total/targetGroups) && len(g.bins) > 1 {
		c.splitGroup(gi)
	}
}

func widen(lo, hi *int64, n int, k int64) {
	if n == 0 {
		*lo, *hi = k, k
		return
	}
	*lo, *hi = min(*lo, k), max(*hi, k)
}

func (c *numColumn) binRemove(f uint32, k int64) {
	gi, bi := c.locate(k)
	c.removeAt(f, gi, bi)
}

// removeAt removes f from bin bi of group gi, which hold its key.
func (c *numColumn) removeAt(f uint32, gi, bi int) {
	g := c.groups[gi]
	g.bins[bi].members.remove(f) // f is in the bin of its key k
	g.bins[bi].n--
	g.members.remove(f)
	g.n--
	c.total--
}

// splitBin divides bin i of g at the median of its members' keys.
func (c *numColumn) splitBin(g *group, i int) {
	b := g.bins[i]
	keys := make([]int64, 0, b.n)
	members := b.members.bitmap()
	members.Iterate(func(f uint32) bool {
		keys = append(keys, c.get(f))
		return true
	})
	slices.Sort(keys)
	lo, hi := keys[0], keys[len(keys)-1]
	if lo == hi { // min and max were loose after removals: the bin is exact
		b.min, b.max = lo, hi
		return
	}
	s, atMidnight := int64(0), false
	if c.dayLoc != nil {
		s, atMidnight = c.daySplitKey(keys)
	}
	if !atMidnight {
		s = keys[len(keys)/2]
		if s == lo { // a dominant smallest key: give it a bin of its own
			j := sort.Search(len(keys), func(j int) bool { return keys[j] > lo })
			s = keys[j]
		}
	}
	left := &bin{lo: b.lo, min: lo, max: math.MinInt64}
	right := &bin{lo: s, min: s, max: hi}
	lc, rc := collectorFor(members, 0.5), collectorFor(members, 0.5)
	each(members, func(ids []uint32) {
		for _, f := range ids {
			if c.get(f) < s {
				lc.hits = append(lc.hits, f)
			} else {
				rc.hits = append(rc.hits, f)
			}
		}
		left.n += len(lc.hits)
		right.n += len(rc.hits)
		lc.flush()
		rc.flush()
	})
	left.members, right.members = newDeferredSet(lc.done()), newDeferredSet(rc.done())
	j := sort.Search(len(keys), func(j int) bool { return keys[j] >= s })
	left.max, right.min = keys[j-1], keys[j] // s need not be a key (a midnight)
	g.bins = slices.Insert(slices.Delete(g.bins, i, i+1), i, left, right)
	c.reindex()
}

// splitGroup divides group gi between two of its bins, near the middle of
// its members, and rebuilds the two unions.
func (c *numColumn) splitGroup(gi int) {
	g := c.groups[gi]
	cut, acc := 1, 0
	for i, b := range g.bins[:len(g.bins)-1] {
		acc += b.n
		cut = i + 1
		if 2*acc >= g.n {
			break
		}
	}
	mk := func(bins []*bin) *group {
		ng := &group{bins: slices.Clone(bins)}
		parts := make([]*roaring.Bitmap, 0, len(bins))
		for _, b := range bins {
			if b.n == 0 {
				continue
			}
			if ng.n == 0 {
				ng.min, ng.max = b.min, b.max
			}
			ng.min, ng.max = min(ng.min, b.min), max(ng.max, b.max)
			ng.n += b.n
			parts = append(parts, b.members.bitmap())
		}
		ng.members = newDeferredSet(orMany(parts))
		return ng
	}
	left, right := mk(g.bins[:cut]), mk(g.bins[cut:])
	c.groups = slices.Insert(slices.Delete(c.groups, gi, gi+1), gi, left, right)
	c.reindex()
}

// cover describes how [lo, hi] meets the column: the groups wholly inside
// it, the groups it cuts (with their bins sorted into inside and outside),
// the groups wholly outside, and the bins that straddle an edge and must be
// checked member by member.
type cover struct {
	lo, hi    int64    // the range
	in, out   []*group // wholly inside or outside the range
	cut       []cutGroup
	partial   []*bin
	inN, outN int // members of the pieces wholly inside, outside
	est       int // estimated friends in the range, unset ones included
}

type cutGroup struct {
	g        *group
	in, out  []*bin // bins wholly inside or outside
	inN      int
	outN     int // members of out and of the group's partial bins
	partials []*bin
}

// others returns the group's bins that are not wholly inside the range.
func (cg *cutGroup) others() []*roaring.Bitmap {
	bms := make([]*roaring.Bitmap, 0, len(cg.out)+len(cg.partials))
	for _, b := range cg.out {
		bms = append(bms, b.members.bitmap())
	}
	for _, b := range cg.partials {
		bms = append(bms, b.members.bitmap())
	}
	return bms
}

func (c *numColumn) rangePlan(lo, hi int64, known *roaring.Bitmap) cover {
	cv := cover{lo: lo, hi: hi}
	if c.unsetIn(lo, hi) {
		cv.est += int(known.GetCardinality()) - int(c.set.GetCardinality())
	}
	for _, g := range c.groups {
		switch {
		case g.n == 0:
		case g.min >= lo && g.max <= hi:
			cv.in = append(cv.in, g)
			cv.inN += g.n
		case g.max < lo || g.min > hi:
			cv.out = append(cv.out, g)
			cv.outN += g.n
		default:
			cg := cutGroup{g: g}
			for _, b := range g.bins {
				switch {
				case b.n == 0:
				case b.min >= lo && b.max <= hi:
					cg.in = append(cg.in, b)
					cg.inN += b.n
				case b.max < lo || b.min > hi:
					cg.out = append(cg.out, b)
					cg.outN += b.n
				default:
					cg.partials = append(cg.partials, b)
					cg.outN += b.n
					cv.partial = append(cv.partial, b)
					cv.est += b.n / 2
				}
			}
			cv.inN += cg.inN
			cv.outN += cg.outN
			cv.cut = append(cv.cut, cg)
		}
	}
	cv.est += cv.inN
	return cv
}

// rangeBitmap returns the known friends whose key lies in [lo, hi], and how
// many friends it checked one by one.
func (c *numColumn) rangeBitmap(lo, hi int64, known *roaring.Bitmap) (*roaring.Bitmap, int) {
	return c.rangeAmong(c.rangePlan(lo, hi, known), known, nil, nil)
}

// rangeAmong returns the friends of w whose key lies in the cover's range:
// the range's interior built whole and intersected with w, and each edge
// bin's members checked either among w (among says so) or all of them,
// then kept in w. With w nil, every known friend in the range, each edge
// member checked (among is not asked). It also returns how many friends it
// checked.
func (c *numColumn) rangeAmong(cv cover, known, w *roaring.Bitmap, among func(edge *bin) bool) (*roaring.Bitmap, int) {
	out := c.interior(cv, known, w)
	checked := 0
	for _, b := range cv.partial {
		cand := b.members.bitmap()
		if w != nil && among(b) {
			cand = roaring.And(cand, w)
			checked += int(cand.GetCardinality())
			out.Or(c.filterRange(cand, cv.lo, cv.hi))
			continue
		}
		checked += b.n
		hits := c.filterRange(cand, cv.lo, cv.hi)
		if w != nil {
			hits.And(w)
		}
		out.Or(hits)
	}
	return out, checked
}

// interior returns the known friends in the cover's pieces that lie wholly
// in its range (its edge bins excluded), the unset friends if the range
// holds them, among the candidates w unless w is nil. When the interior
// holds most of the column, it subtracts the rest from the set instead.
func (c *numColumn) interior(cv cover, known, w *roaring.Bitmap) *roaring.Bitmap {
	var out *roaring.Bitmap
	if cv.inN > cv.outN {
		others := make([]*roaring.Bitmap, 0, len(cv.out)+len(cv.cut))
		for _, g := range cv.out {
			others = append(others, g.members.bitmap())
		}
		for _, cg := range cv.cut {
			others = append(others, cg.others()...)
		}
		out = complementOf(c.set, others)
		if w != nil {
			out.And(w)
		}
	} else {
		parts := make([]*roaring.Bitmap, 0, len(cv.in)+len(cv.cut))
		for _, g := range cv.in {
			parts = append(parts, g.members.bitmap())
		}
		// A cut group with more inside than outside joins the union
		// whole, and its other bins are taken away from the union after:
		// they lie in no other part (bins partition the keys).
		var minus []*roaring.Bitmap
		for i := range cv.cut {
			switch cg := &cv.cut[i]; {
			case cg.inN == 0:
			case cg.inN <= cg.outN:
				// The inside bins themselves: one union for the whole
				// range, not one per group and another over them.
				for _, b := range cg.in {
					parts = append(parts, b.members.bitmap())
				}
			default:
				parts = append(parts, cg.g.members.bitmap())
				minus = append(minus, cg.others()...)
			}
		}
		switch {
		case len(minus) == 0:
			out = orWithFewAmong(parts, nil, w)
		case sparseAmong(w, known):
			// Few candidates a container: the union among them (looked
			// up, not built, when its parts are many and sparse), then
			// one difference with the other bins' union; taking each bin
			// from sparse containers would merge them once a bin.
			out = orWithFewAmong(parts, nil, w)
			out.AndNot(orMany(minus))
		default:
			out = takeAway(orMany(parts), minus) // new: a clone when it is one group
			if w != nil {
				out.And(w)
			}
		}
	}
	if c.unsetIn(cv.lo, cv.hi) {
		if w != nil {
			known = w // the unset friends among the candidates
		}
		out.Or(roaring.AndNot(known, c.set))
	}
	return out
}

// binSizes returns the member counts of the given bins.
func binSizes(lists ...[]*bin) []float64 {
	var sizes []float64
	for _, bins := range lists {
		for _, b := range bins {
			sizes = append(sizes, float64(b.n))
		}
	}
	return sizes
}

// sparseAmong reports whether the candidates w are few a container of the
// known friends' IDs (fewer than 4096 of 65536, where roaring keeps a set
// as an array): false when w is nil, every friend.
func sparseAmong(w, known *roaring.Bitmap) bool {
	return w != nil && card(w)/spanChunks(known) < 4096
}

// complementOf returns set less each of others, as a new bitmap: the
// largest taken away into a new set, then the rest in place. A copy of
// the set to take from would keep its run containers (every friend with
// a value holds consecutive IDs), and each run container changed in place
// becomes a new one (g073 at 10M, score("lead") in 8..65 over the
// audience: 3.0 -> 3.9 ms copied first).
func complementOf(set *roaring.Bitmap, others []*roaring.Bitmap) *roaring.Bitmap {
	if len(others) == 0 {
		return set.Clone()
	}
	largest := 0
	for i, o := range others {
		if o.GetCardinality() > others[largest].GetCardinality() {
			largest = i
		}
	}
	out := roaring.AndNot(set, others[largest])
	for i, o := range others {
		if i != largest {
			out.AndNot(o)
		}
	}
	return out
}

// takeAway removes each of minus from out, a new bitmap of the caller's,
// and returns it. out holds whole groups, dense: each member of minus
// clears a bit in place, and no union of minus nor a second copy of out is
// built (issue 14, g076 at 10M: a score band among 4.25M candidates spent
// 3.5 of its 6 ms on two groups each less the union of its other bins,
// built into new sets). Run containers (a group of a column whose keys
// follow the IDs, such as the follow time) would each be replaced on the
// first change: those go through complementOf.
func takeAway(out *roaring.Bitmap, minus []*roaring.Bitmap) *roaring.Bitmap {
	if out.HasRunCompression() {
		return complementOf(out, minus)
	}
	for _, m := range minus {
		out.AndNot(m)
	}
	return out
}

// bytes estimates the column's heap bytes, adding them to z by part.
func (c *numColumn) bytes(z sizer, name string) uint64 {
	n := z.add(name+" codes", c.codes.bytes()) + z.add(name+" set", bitmapBytes(c.set)+c.setFrozen.bytes())
	n += z.add(name+" bins", allocBytes(8*uint64(cap(c.los)))+allocBytes(8*uint64(cap(c.at))))
	for _, g := range c.groups {
		n += z.add(name+" groups", g.members.bytes()+64)
		for _, b := range g.bins {
			n += z.add(name+" bins", b.members.bytes()+48)
		}
	}
	return n
}
