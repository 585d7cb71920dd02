package segment

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// The one pass with checks: an and whose operands are all ready for the
// one pass (frozenReady) but for string order predicates — a surname
// prefix, name < "M" — is counted by the one pass over the others, and
// each block's members left are then checked against the predicates'
// codes (a value's rank in the sorted dictionary, or a table of the
// accepted values).
//
// Issue 14: the planner took such ands step by step, and checked the
// prefix among the candidates of the first two or three ready sets, before
// the bands that would have left far fewer. At 10M on the AMD machine, in
// turns in one process: the suite's g052 (a click window, a gender, three
// score and spend ranges and a surname prefix) checked 397,625 friends'
// names where the ready operands leave 31,638, 8.1 -> 7.2 ms (the ready
// operands alone take 5.1); ten-with-or-prefix 4.0 -> 2.3-2.7 ms. A check
// among a few candidates a block costs some 40 ns (the code and the
// value's rank or table entry, each a cache miss), so the checks saved
// must be many (see the gate in checkedTerms).

// A valueCheck is a string predicate checked on the codes of a block's
// members in the one pass.
type valueCheck struct {
	codes *codes
	keep  keepFunc
}

// checkedTerms returns the terms of the one pass over the and's operands
// but its string order predicates, and the checks of those, when the and
// is all such operands and checking the predicates among what the others
// leave is expected to cost less than building their union (the
// planner's index way); ok is false otherwise, with the and left to the
// planner.
func (c *evalCtx) checkedTerms(kids []node) (terms []frozenTerm, checks []valueCheck, ok bool) {
	var ready, rest []node
	for _, k := range kids {
		if frozenReady(k) {
			ready = append(ready, k)
		} else {
			rest = append(rest, k)
		}
	}
	// Two ready operands the planner intersects as roaring's And, as
	// fast as the pass, and then checks the same candidates (at 10M, g055
	// clicked("campaign", 3) && tag("t1") && name startsWith "佐", 26,731
	// checks either way: 1.25 ms against the planner's 0.95; the planner
	// is expected to check 189,102 there, from a guess at the window).
	if len(ready) < minCheckedReady || len(rest) == 0 {
		return nil, nil, false
	}
	type ordered struct {
		l   *strLeaf
		col *strColumn
		m   *strMatch
	}
	leaves := make([]ordered, 0, len(rest))
	for _, k := range rest {
		l, isStr := unsaved(k).(*strLeaf)
		if !isStr || l.op == strIn {
			return nil, nil, false
		}
		col := l.column(c)
		if col == nil {
			return nil, nil, false // no one has a value: the planner answers at once
		}
		m := c.strMatching(l, col, false)
		if m == nil || m.rank == nil {
			return nil, nil, false // not an order predicate, or no sorted dictionary at hand
		}
		leaves = append(leaves, ordered{l, col, m})
	}
	// The gate before the terms: frozenTerms copies the small sets and
	// counts a changed set's miss, which a declined and should not pay
	// (review: 5-20% more on ands of 70 µs-1.3 ms at 300k friends).
	u := max(1, card(c.universe))
	left := u
	for _, k := range ready {
		left *= min(1, k.estimate(c)/u)
	}
	// Worth it only where the planner would check many more, by a share
	// and by a number: where it checks a few thousand more, the pass's
	// terms cost more than the checks saved (at 10M, g007: four
	// prefectures, a days_since band, a rare tag and a prefix, 6,184
	// checks against some 900, 1.6 ms against 1.1).
	if saved := c.plannerChecks(kids) - left; saved < (minCheckShare-1)*left || saved < minChecksSaved {
		return nil, nil, false
	}
	for _, o := range leaves {
		if _, table, index := o.l.stringCosts(c, o.col, left); index < table {
			return nil, nil, false // the prefix's union costs less than its checks
		}
	}
	if terms = c.frozenTerms(ready); terms == nil {
		return nil, nil, false
	}
	for _, o := range leaves {
		ch := valueCheck{codes: &o.col.codes}
		if o.m.ranksCheaper(len(o.col.vals), left) {
			ch.keep = rankKeep(o.m.rank, o.m.lo, o.m.hi)
		} else {
			accepted := make([]bool, len(o.col.vals))
			for _, id := range o.m.ids {
				accepted[id] = true
			}
			ch.keep = tableKeep(accepted)
		}
		checks = append(checks, ch)
		// The next check meets what this one leaves.
		left *= min(1, o.m.members/max(1, card(c.ix.known)))
	}
	return terms, checks, true
}

// The pass with checks takes an and only where the planner is expected
// to check at least minCheckShare times the candidates the pass leaves,
// and minChecksSaved more (variables for tests, which lift them to have
// every and it can take taken).
var (
	minCheckShare  = 4.0
	minChecksSaved = 25_000.0
)

// minCheckedReady is the fewest operands ready for the one pass that the
// pass with checks takes (a variable for tests).
var minCheckedReady = 3

// plannerChecks returns the candidates among which evalAnd's greedy order
// is expected to check the first of kids that is not ready for the one
// pass, by the same ranks (cost over the share removed) and estimates.
func (c *evalCtx) plannerChecks(kids []node) float64 {
	u := max(1, card(c.universe))
	w := u
	rest := slices.Clone(kids)
	// evalAnd starts with the two smallest ready-made sets.
	if a, b := c.twoReady(rest); b >= 0 {
		w *= min(1, rest[a].estimate(c)/u) * min(1, rest[b].estimate(c)/u)
		rest = slices.Delete(rest, max(a, b), max(a, b)+1)
		rest = slices.Delete(rest, min(a, b), min(a, b)+1)
	}
	for len(rest) > 0 {
		best := c.cheapestNext(rest, w, u)
		if len(rest) == 2 {
			if first, ok := c.orderTwo(rest, w, u, w < u, true); ok {
				best = first
			}
		}
		k := rest[best]
		if !frozenReady(k) {
			return w
		}
		w *= min(1, k.estimate(c)/u)
		rest = slices.Delete(rest, best, best+1)
	}
	return w
}

// expectedMembers returns the members the conjunction of terms is
// expected to hold, the terms taken as independent: a band's share is its
// estimate, where expectedPerBlock counts its edge bins whole.
func expectedMembers(terms []frozenTerm) float64 {
	universe := terms[len(terms)-1].sets[0]
	n := float64(universe.members)
	span := 65536 * float64(max(1, len(universe.keys)))
	for _, t := range terms[:len(terms)-1] {
		var share float64
		if t.band != nil {
			share = t.band.pass(t.neg)
		} else {
			var m float64
			for _, fs := range t.sets {
				m += float64(fs.members)
			}
			share = min(1, m/span)
			if t.neg {
				share = 1 - share
			}
		}
		n *= share
	}
	return n
}

// countFrozenChecked counts an and by the one pass with checks (see
// checkedTerms); ok is false where it does not take the and.
func (c *evalCtx) countFrozenChecked(kids []node) (uint64, bool) {
	terms, checks, ok := c.checkedTerms(kids)
	if !ok {
		return 0, false
	}
	n, _, ok := passChecked(terms, checks, nil)
	return n, ok
}

// evalFrozenChecked is countFrozenChecked's set.
func (c *evalCtx) evalFrozenChecked(kids []node) (*roaring.Bitmap, bool) {
	terms, checks, ok := c.checkedTerms(kids)
	if !ok {
		return nil, false
	}
	_, bm, ok := passChecked(terms, checks, func(limit uint32) *collector {
		return newCollector(expectedMembers(terms)/4, limit)
	})
	return bm, ok
}

// passChecked runs the one pass over terms, writing each block's members
// out, and checks them (checkBlock): it returns how many pass, and with
// collect their set, gathered by the collector it returns for IDs below
// a limit. ok is false, with nothing done, where a set is collected and
// the friends' IDs are far apart (buildFrozen): the collector's memory
// would follow the largest ID.
func passChecked(terms []frozenTerm, checks []valueCheck, collect func(limit uint32) *collector) (n uint64, bm *roaring.Bitmap, ok bool) {
	keys := frozenDriver(terms).keys
	if len(keys) == 0 {
		return 0, roaring.New(), true
	}
	ck := &valueChecker{checks: checks, buf: checkBufs.Get().(*checkBuf), cands: make([]uint32, 0, 2*eachChunk)}
	defer checkBufs.Put(ck.buf)
	if collect != nil {
		// The collector's words, where it keeps them, run from ID 0.
		blocks := uint64(keys[len(keys)-1]) + 1
		if blocks > 2*uint64(len(keys))+16 {
			return 0, nil, false
		}
		ck.col = collect(uint32(min(blocks<<16, 1<<32-1)))
	}
	k := newBlockCounter(terms)
	defer k.release()
	// One block's words, cleared once its members are listed: a block
	// from ID 0 for each (1.25 MB at 10M) cost 0.5 ms more on g055, which
	// checks 26,731 friends, in writes and in the cache lines it took.
	k.out, k.oneBlock = make([]uint64, 1024), true
	for _, key := range keys {
		if k.count(key) > 0 {
			ck.block(k.outBlock(), uint32(key)<<16)
		}
	}
	ck.flush()
	if ck.col != nil {
		bm = ck.col.done()
	}
	return uint64(ck.kept), bm, true
}

// A valueChecker checks the members the one pass writes out against checks,
// eachChunk at a time across blocks: the codes of a chunk are fetched
// together, and a block often holds a few hundred (at 10M the suite's g055
// kept 26,731 friends over 153 blocks; checked block by block, 1.7 ms,
// where the planner's check of the same friends took 0.8).
type valueChecker struct {
	checks []valueCheck
	buf    *checkBuf
	cands  []uint32 // listed, not yet checked: ascending, fewer than eachChunk between calls
	kept   int
	col    *collector
}

// block lists the members of a block of words whose first ID is base,
// clears the words, and checks the members a chunk at a time.
func (ck *valueChecker) block(words *[1024]uint64, base uint32) {
	for x := 0; x < len(words); x += 32 { // at most 2048 members
		ck.cands = appendBits(ck.cands, words[x:x+32], base|uint32(x)<<6)
		if len(ck.cands) >= eachChunk {
			ck.check(ck.cands[:eachChunk])
			ck.cands = ck.cands[:copy(ck.cands, ck.cands[eachChunk:])]
		}
	}
	clear(words[:])
}

// flush checks the members listed and not yet checked.
func (ck *valueChecker) flush() {
	if len(ck.cands) > 0 {
		ck.check(ck.cands)
		ck.cands = ck.cands[:0]
	}
}

// check checks ids, at most eachChunk, and counts and collects those
// that pass. ids is overwritten.
func (ck *valueChecker) check(ids []uint32) {
	for _, ch := range ck.checks {
		if len(ids) == 0 {
			return
		}
		// The hits are in ck.buf, which the next check fills anew: copied
		// back over the candidates, which they never outnumber.
		ids = ids[:copy(ids, ch.codes.valueHits(ids, ch.keep, ck.buf))]
	}
	ck.kept += len(ids)
	if ck.col != nil {
		ck.col.hits = append(ck.col.hits, ids...)
		ck.col.flush()
	}
}
