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
//   - at Compact, a bin spanning several days is split into one bin per
//     day when that costs at most dayBinBytes heap bytes per member more
//     than the bin itself: days whose members cluster in few ID blocks
//     (followers of one day hold consecutive IDs) or are many. Days of a
//     few scattered members (birthdays over 60 years) keep multi-day bins:
//     a bitmap per day would cost more than the whole column.
//
// Midnights come from the one calendar (midnight, stepcast.DayStart), so a
// day a zone's clocks jump over midnight begins where the language says it
// does.

// dayBinBytes bounds the heap bytes per member that splitting a bin into
// day bins may add: across the benchmark schema's time columns at 10M
// friends this keeps the cost under half a byte a friend (issue 14).
const dayBinBytes = 1.0

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

// splitDays splits every bin of a time column that spans several local days
// into one bin per day, where dayBinBytes allows it. Groups keep their
// unions: the members do not change.
func (c *numColumn) splitDays() {
	if c.dayLoc == nil {
		return
	}
	for _, g := range c.groups {
		for i := 0; i < len(g.bins); i++ {
			if split := c.dayBins(g.bins[i]); split != nil {
				g.bins = slices.Insert(slices.Delete(g.bins, i, i+1), i, split...)
				i += len(split) - 1
			}
		}
	}
}

// dayBins returns b as one bin per local day of its members, or nil when b
// holds one day, too few members a day, or the day bins would cost more
// than dayBinBytes a member beyond b.
func (c *numColumn) dayBins(b *bin) []*bin {
	if b.n == 0 {
		return nil
	}
	first := civilDay(time.Unix(b.min, 0), c.dayLoc)
	last := civilDay(time.Unix(b.max, 0), c.dayLoc)
	if first == last || int64(b.n) < minDayMembers*(last-first+1) {
		return nil
	}
	// The midnights between first and last, ascending: a member's day is
	// found by binary search rather than a time conversion each.
	starts := make([]int64, 0, last-first)
	for d := first + 1; d <= last; d++ {
		starts = append(starts, timeKey(midnight(d, c.dayLoc)))
	}
	ids := make([][]uint32, len(starts)+1)
	each(b.members, func(fs []uint32) {
		for _, f := range fs {
			k := c.get(f)
			j := sort.Search(len(starts), func(i int) bool { return starts[i] > k })
			ids[j] = append(ids[j], f) // ascending: members iterate in order
		}
	})
	var out []*bin
	var bytes uint64
	for j, l := range ids {
		if len(l) == 0 {
			continue
		}
		lo := b.lo
		if j > 0 && len(out) > 0 {
			lo = starts[j-1]
		}
		nb := &bin{lo: lo, n: len(l), members: roaring.New()}
		nb.members.AddMany(l)
		nb.members.RunOptimize()
		nb.min, nb.max = c.get(l[0]), c.get(l[0])
		for _, f := range l[1:] {
			k := c.get(f)
			nb.min, nb.max = min(nb.min, k), max(nb.max, k)
		}
		bytes += nb.members.GetSizeInBytes() + binHeader
		out = append(out, nb)
	}
	if len(out) < 2 || float64(bytes) > float64(b.members.GetSizeInBytes()+binHeader)+dayBinBytes*float64(b.n) {
		return nil
	}
	return out
}

// binHeader is the heap bytes of a bin besides its bitmap's containers,
// as bytes counts them.
const binHeader = 48
