package segment

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
)

// sortedDict is a string column's value ids in the order of their values,
// so that a predicate on that order (startsWith, <, <=, >, >=) finds the
// values that hold by binary search instead of deciding every distinct
// value on every query: at 10M friends a name column holds some 200k
// values, and deciding each costs milliseconds, more than the rest of a
// typical query.
//
// Values are never removed from a dictionary, so the order only grows.
// Index.Compact sorts it whole (a bulk load ends with Compact); a query
// that finds a few values added since merges them in, under the dict's own
// lock, since queries run concurrently under the index's read lock. A
// query that finds many new values does not sort them (that would be tens
// of milliseconds at 10M, inside a query): it decides every value instead,
// as before.
//
// Each value id's rank in the order is kept too, so that checking a
// candidate against an order predicate is a lookup of its code's rank
// (filterRanked) instead of a read of its string: at 10M a name's string
// lies in a dictionary of some 200k values, two cache misses away, and a
// table of the accepted values would be built on every call. The order
// and the ranks cost 8 bytes per distinct value and nothing per update.
type sortedDict struct {
	mu    sync.Mutex
	order []uint32 // value ids 1..len(order) sorted by value; replaced, never modified once published
	rank  []uint32 // rank[id] is id's position in order; rank[0], no value, is past every position
}

// maxMergeShare is the share of new values up to which a query merges them
// into the order: a merge moves the whole order once, and sorts the new.
const maxMergeShare = 8 // one eighth

// sorted returns the column's value ids in value order, or nil if it would
// take a sort of many values to have it (see sortedDict). The slice is
// never modified.
func (c *strColumn) sorted(force bool) []uint32 {
	order, _ := c.ranked(force)
	return order
}

// ranked is sorted with the rank of each value id in the order (see
// sortedDict); both nil when sorted is.
func (c *strColumn) ranked(force bool) (order, rank []uint32) {
	s := &c.order
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(c.vals) - 1 // id 0 is no value
	have := len(s.order)
	if have == n {
		return s.order, s.rank
	}
	if !force && (n-have)*maxMergeShare > n && n-have > 64 {
		return nil, nil
	}
	fresh := make([]uint32, n-have)
	for i := range fresh {
		fresh[i] = uint32(have + 1 + i)
	}
	byVal := func(a, b uint32) int { return strings.Compare(c.vals[a], c.vals[b]) }
	slices.SortFunc(fresh, byVal)
	merged := make([]uint32, 0, n)
	old := s.order
	for _, id := range fresh {
		i, _ := slices.BinarySearchFunc(old, id, byVal)
		merged = append(merged, old[:i]...)
		merged = append(merged, id)
		old = old[i:]
	}
	s.order = append(merged, old...)
	s.rank = make([]uint32, n+1)
	s.rank[0] = math.MaxUint32
	for pos, id := range s.order {
		s.rank[id] = uint32(pos)
	}
	return s.order, s.rank
}

// orderedBounds returns the positions in order of the values that satisfy
// an order predicate (startsWith, <, <=, >, >=): they are order[lo:hi]. ok
// is false for other predicates.
func (c *strColumn) orderedBounds(order []uint32, l *strLeaf) (lo, hi int, ok bool) {
	arg := l.values[0]
	at := func(pred func(v string) bool) int {
		return sort.Search(len(order), func(i int) bool { return pred(c.vals[order[i]]) })
	}
	switch l.op {
	case strPrefix:
		lo := at(func(v string) bool { return v >= arg })
		return lo, lo + sort.Search(len(order)-lo, func(i int) bool { return !strings.HasPrefix(c.vals[order[lo+i]], arg) }), true
	case strLess:
		return 0, at(func(v string) bool { return v >= arg }), true
	case strLessEq:
		return 0, at(func(v string) bool { return v > arg }), true
	case strGreater:
		return at(func(v string) bool { return v > arg }), len(order), true
	case strGreaterEq:
		return at(func(v string) bool { return v >= arg }), len(order), true
	}
	return 0, 0, false
}

// strMatch is what one evaluation learned about a string predicate other
// than equality: the value ids that hold, and the size of their postings.
type strMatch struct {
	ids     []uint32
	rank    []uint32 // the column's ranks when ids are the order's positions [lo, hi); nil otherwise
	lo, hi  uint32
	members float64   // friends holding one of the values
	bitmaps []float64 // the sizes of the postings held as bitmaps
	few     float64   // the members of the others, held in sorted slices
}

// builtCost is the cost of a table of the matched values built for one
// call, over a column of the given number of values.
func (m *strMatch) builtCost(values int) float64 {
	return float64(values)*costTableEntry + float64(len(m.ids))*2
}

// tableCost is the cost, beyond fetching the codes, of checking w
// candidates against the matched values: a table of them built for the
// call, or the ranks of the sorted dictionary looked up (ranksCheaper).
func (m *strMatch) tableCost(values int, w float64) float64 {
	if m.ranksCheaper(values, w) {
		return w * costRankLookup
	}
	return m.builtCost(values)
}

// ranksCheaper reports whether w candidates are checked for less by the
// ranks of the sorted dictionary than by a table built for the call. A
// rank is 4 bytes a value where the table's entry is 1, and the table is
// hot once built: among a few thousand candidates the ranks win (the
// suite's g093 at 10M, 4,850 candidates of 200k names: 1.4–1.6 ms after
// an edit, against 2.5 with the table or the strings read); among hundreds
// of thousands the table does (g047, g066: about 1 ms slower by ranks).
func (m *strMatch) ranksCheaper(values int, w float64) bool {
	return m.rank != nil && w*costRankLookup < m.builtCost(values)
}

// strMatching returns the values that satisfy l, found by binary search in
// the sorted dictionary for an order predicate, or by deciding every value
// if decide is set; nil if neither. The result is kept for the rest of the
// evaluation.
func (c *evalCtx) strMatching(l *strLeaf, col *strColumn, decide bool) *strMatch {
	if m, ok := c.strs[l]; ok {
		return m
	}
	m := &strMatch{}
	found := false
	if order, rank := col.ranked(false); order != nil {
		var lo, hi int
		if lo, hi, found = col.orderedBounds(order, l); found {
			m.ids, m.rank, m.lo, m.hi = order[lo:hi], rank, uint32(lo), uint32(hi)
		}
	}
	if !found {
		if !decide {
			return nil
		}
		m.ids = col.matching(l)
	}
	ids := m.ids
	for _, id := range ids {
		n := float64(col.counts[id])
		m.members += n
		if col.postings[id].bm != nil {
			m.bitmaps = append(m.bitmaps, n)
		} else {
			m.few += n
		}
	}
	if c.strs == nil {
		c.strs = map[*strLeaf]*strMatch{}
	}
	c.strs[l] = m
	return m
}

// unionCost estimates col.union of the matched values: a step per
// posting, the bitmaps ORed, the few-member slices sorted into one small
// bitmap or, past 8192 members, set bit by bit into a dense array that
// becomes a bitmap (see orWithFew).
func (c *evalCtx) unionCost(m *strMatch) float64 {
	cost := float64(len(m.ids))*costPosting + c.orCost(m.bitmaps...)
	if m.few < 8192 {
		return cost + m.few*costSortFew
	}
	return cost + m.few*costSetBit + c.chunks()*costOrContainer
}
