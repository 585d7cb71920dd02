package segment

import (
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
// as before. The order costs 4 bytes per distinct value and nothing per
// update.
type sortedDict struct {
	mu    sync.Mutex
	order []uint32 // value ids 1..len(order) sorted by value; replaced, never modified once published
}

// maxMergeShare is the share of new values up to which a query merges them
// into the order: a merge moves the whole order once, and sorts the new.
const maxMergeShare = 8 // one eighth

// sorted returns the column's value ids in value order, or nil if it would
// take a sort of many values to have it (see sortedDict). The slice is
// never modified.
func (c *strColumn) sorted(force bool) []uint32 {
	s := &c.order
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(c.vals) - 1 // id 0 is no value
	have := len(s.order)
	if have == n {
		return s.order
	}
	if !force && (n-have)*maxMergeShare > n && n-have > 64 {
		return nil
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
	return s.order
}

// orderedRange returns the value ids, in value order, that satisfy an
// order predicate (startsWith, <, <=, >, >=) on a sorted order; ok is false
// for other predicates.
func (c *strColumn) orderedRange(order []uint32, l *strLeaf) (ids []uint32, ok bool) {
	arg := l.values[0]
	at := func(pred func(v string) bool) int {
		return sort.Search(len(order), func(i int) bool { return pred(c.vals[order[i]]) })
	}
	switch l.op {
	case strPrefix:
		lo := at(func(v string) bool { return v >= arg })
		hi := lo + sort.Search(len(order)-lo, func(i int) bool { return !strings.HasPrefix(c.vals[order[lo+i]], arg) })
		return order[lo:hi], true
	case strLess:
		return order[:at(func(v string) bool { return v >= arg })], true
	case strLessEq:
		return order[:at(func(v string) bool { return v > arg })], true
	case strGreater:
		return order[at(func(v string) bool { return v > arg }):], true
	case strGreaterEq:
		return order[at(func(v string) bool { return v >= arg }):], true
	}
	return nil, false
}

// strMatch is what one evaluation learned about a string predicate other
// than equality: the value ids that hold, and the size of their postings.
type strMatch struct {
	ids     []uint32
	members float64   // friends holding one of the values
	bitmaps []float64 // the sizes of the postings held as bitmaps
	few     float64   // the members of the others, held in sorted slices
}

// strMatching returns the values that satisfy l, found by binary search in
// the sorted dictionary for an order predicate, or by deciding every value
// if decide is set; nil if neither. The result is kept for the rest of the
// evaluation.
func (c *evalCtx) strMatching(l *strLeaf, col *strColumn, decide bool) *strMatch {
	if m, ok := c.strs[l]; ok {
		return m
	}
	var ids []uint32
	found := false
	if order := col.sorted(false); order != nil {
		ids, found = col.orderedRange(order, l)
	}
	if !found {
		if !decide {
			return nil
		}
		ids = col.matching(l)
	}
	m := &strMatch{ids: ids}
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
