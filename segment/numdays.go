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
//     day, newest first, while the heap that adds stays within the
//     column's budget (dayBinBytes). Days of a few scattered
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
//
// Costs are weighed with the heap estimate Stats uses (bitmapBytes, which
// follows the allocator): a bin's bitmap holds some 200 bytes whatever its
// size, its struct, container list and size-class slack, so a share per
// member would leave a small column (tens of thousands of members) no day
// bin at all, though all of them cost a few kilobytes. A column may always
// spend dayBinMinBudget: below it memory is not the question; above it
// (at 1M friends and beyond, each time column) the share alone decides.
const (
	dayBinBytes     = 0.15
	dayBinMinBudget = 32 << 10
)

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
// the budget: dayBinBytes a member, at least dayBinMinBudget. Groups keep
// their unions: the members do not change.
func (c *numColumn) splitDays() {
	if c.dayLoc == nil {
		return
	}
	budget := max(dayBinBytes*float64(c.total), dayBinMinBudget)
	for gi := len(c.groups) - 1; gi >= 0; gi-- {
		g := c.groups[gi]
		for i := len(g.bins) - 1; i >= 0; i-- {
			split, extra := c.dayBins(g.bins[i])
			if split == nil || extra > budget {
				continue
			}
			budget -= extra
			g.bins = slices.Insert(slices.Delete(g.bins, i, i+1), i, split...)
			c.reindex()
		}
	}
}

// binBytes is a bin's heap as Stats counts it (numColumn.bytes): its
// bitmap as the allocator holds it, and the bin itself.
func binBytes(bm *roaring.Bitmap) float64 { return float64(bitmapBytes(bm) + binHeader) }

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
	each(b.members.bitmap(), func(fs []uint32) {
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
		bytes += binBytes(bm)
		out = append(out, nb)
	}
	if len(out) < 2 {
		return nil, 0
	}
	return out, bytes - binBytes(b.members.bitmap())
}

// binHeader is the heap bytes of a bin besides its bitmap's containers,
// as bytes counts them.
const binHeader = 48
