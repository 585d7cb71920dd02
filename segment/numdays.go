package segment

import (
	"slices"
	"sort"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Bins of time columns cut at local midnights. A time column is keyed in
// seconds, but its ranges mostly come from calendar days (days_since,
// followed_days, a date() bound), which begin at the local midnights of the
// schema's zone. A bin that spans a midnight inside such a range is checked
// member by member against the code column, where a bitmap per calendar
// day would OR whole sets (issue 14: days_since("last_purchase") in 30..36
// checked 6177 friends, 0.33× plain roaring, and the first call paid a
// cache miss for each).
//
// Two rules keep day ranges on whole bins:
//   - a growing bin splits at the local midnight nearest its median, so
//     that bins hold whole days wherever a day is smaller than a bin; a bin
//     within one day splits at its median as before (any day range holds
//     both halves or neither);
//   - at Compact, bins spanning several days are split into one bin per
//     day, newest first, while the heap that adds stays within
//     dayBinBytes per member of the column. Days of a few scattered
//     members (birthdays over 60 years) keep multi-day bins: a bitmap per
//     day would cost more than the whole column.
//
// Midnights come from the one calendar (midnight, stepcast.DayStart), so a
// day a zone's clocks jump over midnight begins where the language says it
// does.

// dayBinBytes is the heap a column may spend on day bins beyond the bins
// they replace, in bytes per member of the column. Day bins are made
// newest first (recent days are what days_since and followed_days ask
// for most) until it is spent (three time columns: under 0.45 B a
// friend in all). At 10M friends a bitmap per day of the
// benchmark's last purchases costs some 1 B a member, of 60 years of
// birthdays some 20, so most of a long column keeps multi-day bins.
const dayBinBytes = 0.15

// containerBytes is the heap of one roaring container beyond its values
// (the container, its slot in the bitmap's arrays, allocation slack), which
// GetSizeInBytes does not count: the cost of many small bitmaps.
const containerBytes = 48

// minDayMembers is the average members per day below which a bin is not
// tried for day bins at all (their bitmaps would be mostly overhead).
const minDayMembers = 64

// daySplitKey returns the split key for a bin of a time column whose
// members' keys, sorted, are keys: the local midnight in (keys[0],
// keys[last]] nearest the median's rank, or ok false when every key lies
// within one local day.
func (c *numColumn) daySplitKey(keys []int64) (s int64, ok bool) {
	lo, hi := keys[0], keys[len(keys)-1]
	med := keys[len(keys)/2]
	d := civilDay(time.Unix(med, 0), c.dayLoc)
	before := timeKey(midnight(d, c.dayLoc))  // <= med
	after := timeKey(midnight(d+1, c.dayLoc)) // > med
	rank := func(k int64) int { return sort.Search(len(keys), func(i int) bool { return keys[i] >= k }) }
	okBefore, okAfter := before > lo, after <= hi
	switch {
	case okBefore && okAfter:
		if len(keys)/2-rank(before) <= rank(after)-len(keys)/2 {
			return before, true
		}
		return after, true
	case okBefore:
		return before, true
	case okAfter:
		return after, true
	}
	return 0, false
}

// splitDays splits bins of a time column that span several local days
// into one bin per day, newest first, while the heap they add stays within
// dayBinBytes a member. Groups keep their unions: the members do not
// change.
func (c *numColumn) splitDays() {
	if c.dayLoc == nil {
		return
	}
	budget := dayBinBytes * float64(c.total)
	for gi := len(c.groups) - 1; gi >= 0; gi-- {
		g := c.groups[gi]
		for i := len(g.bins) - 1; i >= 0; i-- {
			split, extra := c.dayBins(g.bins[i])
			if split == nil || extra > budget {
				continue
			}
			budget -= extra
			g.bins = slices.Insert(slices.Delete(g.bins, i, i+1), i, split...)
		}
	}
}

// heapBytes estimates a bin's heap: its bitmap's values and containers.
func heapBytes(bm *roaring.Bitmap, containers int) float64 {
	return float64(bm.GetSizeInBytes()) + float64(containers*containerBytes+binHeader)
}

// containersOf counts the 65536-ID containers of ascending ids.
func containersOf(ids []uint32) int {
	n := 0
	for i, f := range ids {
		if i == 0 || f>>16 != ids[i-1]>>16 {
			n++
		}
	}
	return n
}

// dayBins returns b as one bin per local day of its members and the heap
// bytes they add, or nil when b holds one day or too few members a day.
func (c *numColumn) dayBins(b *bin) ([]*bin, float64) {
	if b.n == 0 {
		return nil, 0
	}
	first := civilDay(time.Unix(b.min, 0), c.dayLoc)
	last := civilDay(time.Unix(b.max, 0), c.dayLoc)
	if first == last || int64(b.n) < minDayMembers*(last-first+1) {
		return nil, 0
	}
	// The midnights between first and last, ascending: a member's day is
	// found by binary search rather than a time conversion each.
	starts := make([]int64, 0, last-first)
	for d := first + 1; d <= last; d++ {
		starts = append(starts, timeKey(midnight(d, c.dayLoc)))
	}
	ids := make([][]uint32, len(starts)+1)
	var all []uint32
	each(b.members.bitmap(), func(fs []uint32) {
		all = append(all, fs...)
		for _, f := range fs {
			k := c.get(f)
			j := sort.Search(len(starts), func(i int) bool { return starts[i] > k })
			ids[j] = append(ids[j], f) // ascending: members iterate in order
		}
	})
	var out []*bin
	bytes := 0.0
	for j, l := range ids {
		if len(l) == 0 {
			continue
		}
		lo := b.lo
		if j > 0 && len(out) > 0 {
			lo = starts[j-1]
		}
		bm := roaring.New()
		bm.AddMany(l)
		bm = compacted(bm) // AddMany grows arrays as append does
		nb := &bin{lo: lo, n: len(l), members: newDeferredSet(bm)}
		nb.min, nb.max = c.get(l[0]), c.get(l[0])
		for _, f := range l[1:] {
			k := c.get(f)
			nb.min, nb.max = min(nb.min, k), max(nb.max, k)
		}
		bytes += heapBytes(bm, containersOf(l))
		out = append(out, nb)
	}
	if len(out) < 2 {
		return nil, 0
	}
	return out, bytes - heapBytes(b.members.bitmap(), containersOf(all))
}

// binHeader is the heap bytes of a bin besides its bitmap's containers,
// as bytes counts them.
const binHeader = 48
