package segment

import (
	"math"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
)

// numColumn indexes an int64-keyed value for every known friend.
//
// Two structures serve it. A dense code column holds each friend's key (for
// Match and for checking candidates), at 1 to 8 bytes a friend depending on
// the spread of the values. Bins partition the key space into contiguous
// ranges, each with the bitmap of its members; a bin splits at its median
// when it outgrows its share of the column, so there are a few dozen bins
// whatever the number of distinct values. A range query ORs the bins it
// covers whole and checks the members of at most two edge bins against the
// code column: the work is bounded by the edge bins, not by the number of
// distinct values, which is what keeps ranges over high-cardinality ints
// and times fast. A bin whose members all share one key is exact and never
// needs checking.
type numColumn struct {
	def   int64 // the key an unset friend reads
	base  int64 // codes store key-base+1 (mod 2^64); code 0 is "unset"
	maxK  int64 // the largest key stored, for rebasing
	any   bool  // whether any key has been stored
	codes codes
	set   *roaring.Bitmap // friends with an explicit value
	bins  []*bin          // ordered by lo; bins[0].lo == math.MinInt64
	total int             // friends in all bins (the known friends)
}

type bin struct {
	lo       int64 // the bin holds keys >= lo and < the next bin's lo
	min, max int64 // bounds of the members' keys; may be loose after removals
	n        int
	members  *roaring.Bitmap
}

// Bin sizing: a bin splits when it holds more than twice its share of the
// column, the share being total/targetBins, but never below minBinSplit
// members (tests lower it to exercise splitting on small data).
const targetBins = 32

var minBinSplit = 4096

func newNumColumn(def int64) *numColumn {
	return &numColumn{
		def:   def,
		codes: newCodes(),
		set:   roaring.New(),
		bins:  []*bin{{lo: math.MinInt64, members: roaring.New()}},
	}
}

func (c *numColumn) get(f uint32) int64 {
	code := c.codes.get(f)
	if code == 0 {
		return c.def
	}
	return c.base + int64(code-1)
}

// join makes room for a new known friend, who reads the default value.
// Unset friends are in no bin: range queries that cover the default add
// the known friends not in set.
func (c *numColumn) join(f uint32) { c.codes.grow(int(f) + 1) }

// put sets f's key; f must be known.
func (c *numColumn) put(f uint32, k int64) {
	old := c.get(f)
	c.store(f, k)
	if c.set.CheckedAdd(f) { // was unset: in no bin
		c.binAdd(f, k)
		return
	}
	if old != k {
		c.binRemove(f, old)
		c.binAdd(f, k)
	}
}

// unset returns f to the default value.
func (c *numColumn) unset(f uint32) {
	if !c.set.CheckedRemove(f) {
		return
	}
	c.binRemove(f, c.get(f))
	c.codes.set(f, 0)
}

// unsetIn reports whether the default key lies in [lo, hi], i.e. whether
// the unset friends belong to the range.
func (c *numColumn) unsetIn(lo, hi int64) bool { return c.def >= lo && c.def <= hi }

func (c *numColumn) store(f uint32, k int64) {
	if !c.any {
		c.any, c.base, c.maxK = true, k, k
	}
	if k < c.base {
		c.rebase(k)
	}
	c.maxK = max(c.maxK, k)
	c.codes.set(f, uint64(k-c.base)+1)
}

// rebase lowers the base below k, with headroom of half the current spread
// so that values drifting downwards do not rebase on every write.
func (c *numColumn) rebase(k int64) {
	// Keys are > math.MinInt64 (Apply refuses it), and so is the base:
	// then every code key-base+1 fits in 64 bits without reaching 0.
	span := uint64(c.maxK - k)
	nb := k
	if d := span / 2; uint64(k-math.MinInt64) > d+1 {
		nb = k - int64(d)
	} else {
		nb = math.MinInt64 + 1
	}
	old := c.codes
	oldBase := c.base
	c.codes = newCodes()
	c.codes.grow(old.n)
	c.base = nb
	for i := range old.n {
		if code := old.get(uint32(i)); code != 0 {
			key := oldBase + int64(code-1)
			c.codes.set(uint32(i), uint64(key-nb)+1)
		}
	}
}

func (c *numColumn) binIndex(k int64) int {
	return sort.Search(len(c.bins), func(i int) bool { return c.bins[i].lo > k }) - 1
}

func (c *numColumn) binAdd(f uint32, k int64) {
	i := c.binIndex(k)
	b := c.bins[i]
	if !b.members.CheckedAdd(f) {
		return
	}
	if b.n == 0 {
		b.min, b.max = k, k
	} else {
		b.min, b.max = min(b.min, k), max(b.max, k)
	}
	b.n++
	c.total++
	if b.n > max(minBinSplit, 2*c.total/targetBins) && b.min != b.max {
		c.split(i)
	}
}

func (c *numColumn) binRemove(f uint32, k int64) {
	b := c.bins[c.binIndex(k)]
	if b.members.CheckedRemove(f) {
		b.n--
		c.total--
	}
}

// split divides bin i at the median of its members' keys.
func (c *numColumn) split(i int) {
	b := c.bins[i]
	keys := make([]int64, 0, b.n)
	b.members.Iterate(func(f uint32) bool {
		keys = append(keys, c.get(f))
		return true
	})
	slices.Sort(keys)
	lo, hi := keys[0], keys[len(keys)-1]
	if lo == hi { // min and max were loose after removals: the bin is exact
		b.min, b.max = lo, hi
		return
	}
	s := keys[len(keys)/2]
	if s == lo { // a dominant smallest key: give it a bin of its own
		j := sort.Search(len(keys), func(j int) bool { return keys[j] > lo })
		s = keys[j]
	}
	left := &bin{lo: b.lo, min: lo, max: math.MinInt64}
	right := &bin{lo: s, min: s, max: hi}
	lc, rc := collectorFor(b.members, 0.5), collectorFor(b.members, 0.5)
	each(b.members, func(ids []uint32) {
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
	left.members, right.members = lc.done(), rc.done()
	j := sort.Search(len(keys), func(j int) bool { return keys[j] >= s })
	left.max = keys[j-1]
	c.bins = slices.Insert(slices.Delete(c.bins, i, i+1), i, left, right)
}

// rangePlan returns the bins that lie wholly in [lo, hi], those that
// straddle its edges (their members must be checked one by one), and an
// estimate of the number of friends in the range.
func (c *numColumn) rangePlan(lo, hi int64, known *roaring.Bitmap) (full []*bin, partial []*bin, est int) {
	if c.unsetIn(lo, hi) {
		est += int(known.GetCardinality()) - int(c.set.GetCardinality())
	}
	first := c.binIndex(lo)
	for i := first; i < len(c.bins); i++ {
		b := c.bins[i]
		if b.lo > hi {
			break
		}
		if b.n == 0 || b.max < lo || b.min > hi {
			continue
		}
		if b.min >= lo && b.max <= hi {
			full = append(full, b)
			est += b.n
		} else {
			partial = append(partial, b)
			est += b.n / 2
		}
	}
	return full, partial, est
}

// rangeBitmap returns the known friends whose key lies in [lo, hi], and how
// many friends it checked one by one. When the bins it covers whole hold
// most of the column, it subtracts the other bins from the set instead of
// ORing the covered ones.
func (c *numColumn) rangeBitmap(lo, hi int64, known *roaring.Bitmap) (*roaring.Bitmap, int) {
	full, partial, _ := c.rangePlan(lo, hi, known)
	in := 0
	for _, b := range full {
		in += b.n
	}
	var out *roaring.Bitmap
	if 2*in > c.total {
		var others []*roaring.Bitmap
		for _, b := range c.bins {
			if b.n > 0 && !slices.Contains(full, b) {
				others = append(others, b.members)
			}
		}
		out = roaring.AndNot(c.set, orMany(others))
	} else {
		bms := make([]*roaring.Bitmap, len(full))
		for i, b := range full {
			bms[i] = b.members
		}
		out = orMany(bms)
	}
	checked := 0
	for _, b := range partial {
		checked += b.n
		out.Or(c.filterRange(b.members, lo, hi))
	}
	if c.unsetIn(lo, hi) {
		out.Or(roaring.AndNot(known, c.set))
	}
	return out, checked
}

func (c *numColumn) bytes() uint64 {
	n := c.codes.bytes() + c.set.GetSizeInBytes()
	for _, b := range c.bins {
		n += b.members.GetSizeInBytes() + 48
	}
	return n
}
