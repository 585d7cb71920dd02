package segment

import (
	"math"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// Eval returns the friends in the segment at time now, as a new bitmap the
// caller owns. Relative conditions (followed_days, days_since, event
// windows) count calendar days in the schema's time zone up to now.
//
// Eval returns ErrSchemaMismatch if ix was built for another schema.
func (s *Segment) Eval(ix *Index, now time.Time) (*roaring.Bitmap, error) {
	if ix.schema != s.schema {
		return nil, ErrSchemaMismatch
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	c := s.newCtx(ix, now, nil)
	return c.eval(s.root, c.universe), nil
}

// Count returns the number of friends in the segment at time now.
func (s *Segment) Count(ix *Index, now time.Time) (uint64, error) {
	if ix.schema != s.schema {
		return 0, ErrSchemaMismatch
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	c := s.newCtx(ix, now, nil)
	return c.count(s.root), nil
}

// Match reports whether friend f is in the segment at time now, looking at
// that friend alone: its cost does not depend on the size of the audience.
func (s *Segment) Match(ix *Index, f stepcast.FriendID, now time.Time) (bool, error) {
	if ix.schema != s.schema {
		return false, ErrSchemaMismatch
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	c := s.newCtx(ix, now, nil)
	return c.universe.Contains(uint32(f)) && s.root.match(c, uint32(f)), nil
}

type evalCtx struct {
	ix       *Index
	now      time.Time
	today    int64
	loc      *time.Location
	keyDays  [2]int64 // the schema's: the dates of the first and last time keys
	universe *roaring.Bitmap
	ranges   map[*daysLeaf][2]int64         // days leaves resolved against now
	built    map[*posting]*roaring.Bitmap   // few-member postings made bitmaps, once per evaluation
	strs     map[*strLeaf]*strMatch         // string predicates' values, once per evaluation
	windows  map[*eventLeaf]*roaring.Bitmap // cached windows as direct first found them
	trace    *Explanation                   // the node being explained; nil unless explaining
	parents  []*Explanation
	shared   map[node]bool // saved plans used more than once (see shared.go)
	memo     memo
	widths   map[*codes]float64 // bytes a friend of code columns (codeBytes)
}

func (s *Segment) newCtx(ix *Index, now time.Time, trace *Explanation) *evalCtx {
	c := &evalCtx{ix: ix, now: now, today: civilDay(now, ix.schema.loc), loc: ix.schema.loc, keyDays: ix.schema.keyDays, universe: ix.following, trace: trace,
		shared: s.shared()}
	if s.wide {
		c.universe = ix.known
	}
	return c
}

// count is eval followed by a cardinality; a top-level and counts its last
// intersection without materializing it.
func (c *evalCtx) count(n node) uint64 {
	if c.trace == nil {
		// An and only: one ready set is counted by roaring's
		// AndCardinality with the audience, which looks an array's
		// members up where the kernel writes them out (the suite's g056
		// at 10M, a variant of 3%: 0.097 ms against 0.05-0.065).
		if a, ok := unsaved(n).(*andNode); ok {
			if cnt, ok := c.countFrozenAnd(a.kids); ok {
				return cnt
			}
			if cnt, ok := c.countFrozenChecked(a.kids); ok {
				return cnt
			}
		}
		if cnt, ok := c.countKept(n); ok {
			return cnt
		}
		switch n := n.(type) {
		case *andNode:
			_, cnt := c.evalAnd(n.kids, c.universe, true)
			return cnt
		case *notNode: // the audience less the kid's friends among it
			return c.universe.GetCardinality() - c.count(n.kid)
		case leaf:
			if bm := n.direct(c); bm != nil {
				return c.universe.AndCardinality(bm)
			}
			if cnt, ok := c.countEachValue(n, c.universe); ok {
				return cnt
			}
			if ct, ok := n.(counter); ok {
				if cnt, ok := ct.countIn(c, c.universe); ok {
					return cnt
				}
			}
		}
	}
	return c.eval(n, c.universe).GetCardinality()
}

// eval returns n ∩ within as a new bitmap, traced for Explain.
func (c *evalCtx) eval(n node, within *roaring.Bitmap) *roaring.Bitmap {
	tr := c.enter(n, within)
	out, path, checked := n.eval(c, within)
	tr.setPath(path, checked)
	c.leave(tr, out)
	return out
}

// evalAnd intersects kids within within. Each operand is evaluated only
// among the survivors of the ones before it, so a selective first operand
// lets later ones check a few candidates one by one instead of computing
// their whole set, and once nothing survives the rest is skipped.
//
// The order is chosen as it goes, greedily, by the rule for ordering
// independent filters: next comes the operand with the least cost for the
// current candidates divided by the share of candidates it removes. Ready
// bitmaps that cut deep come first; an event window or a wide range, costly
// to compute but cheap to check, waits until the candidates are few.
//
// With countLast, the last intersection is only counted, when it is with a
// ready-made bitmap.
func (c *evalCtx) evalAnd(kids []node, within *roaring.Bitmap, countLast bool) (*roaring.Bitmap, uint64) {
	rest := slices.Clone(kids)
	u := max(1, card(c.universe))
	acc := within
	// audience, when set, is within not yet intersected into acc: the
	// largest operand, it comes last, as in plain roaring, and when the
	// and ends in ready-made sets it is only counted. Intersecting it in
	// place right after the first two sets cost g080 at 10M (two choices,
	// 1.17M friends) a write pass over every container: 0.23 ms against
	// plain's 0.17.
	var audience *roaring.Bitmap
	settle := func() {
		if audience != nil {
			acc.And(audience)
			audience = nil
		}
	}
	if within == c.universe && c.trace == nil {
		// Intersect the two smallest ready-made sets with each other
		// before the audience, as plain roaring would: the index's sets
		// keep dense containers as bitmaps, and an array container meets
		// a bitmap one at the cost of a lookup per member, where two
		// array containers (what either would become among the audience)
		// merge at several times that.
		if a, b := c.twoReady(rest); b >= 0 {
			ba, bb := rest[a].(leaf).direct(c), rest[b].(leaf).direct(c)
			rest = slices.Delete(rest, max(a, b), max(a, b)+1)
			rest = slices.Delete(rest, min(a, b), min(a, b)+1)
			acc, audience = c.and(ba, bb), within
			if card(within) < max(card(ba), card(bb)) {
				settle() // plain roaring would have met it before the larger set
			}
		}
	}
	for len(rest) > 0 {
		if acc.IsEmpty() {
			for _, k := range rest {
				c.skipped(k)
			}
			break
		}
		w := card(acc)
		best := c.cheapestNext(rest, w, u)
		if len(rest) == 2 && audience == nil {
			if first, ok := c.orderTwo(rest, w, u, acc != within, countLast); ok {
				best = first
			}
		}
		k := rest[best]
		rest = slices.Delete(rest, best, best+1)
		last := len(rest) == 0
		if audience != nil && !c.audienceAfter(k, audience, countLast && last) {
			settle()
		}
		if countLast && last && audience != nil && c.intersectReady(k, acc) {
			return nil, acc.AndCardinality(audience)
		}
		if countLast && last && c.trace == nil {
			settle()
			if n, ok := c.countReady(k, acc); ok {
				return nil, n
			}
			if n, ok := c.countEachValue(k, acc); ok {
				return nil, n
			}
			if ct, ok := k.(counter); ok {
				if n, ok := ct.countIn(c, acc); ok {
					return nil, n
				}
			}
		}
		// Once acc is ours, intersect ready-made bitmaps into it in place:
		// no new containers, which at millions of friends is most of the
		// cost of an intersection.
		if acc != within && c.trace == nil && c.intersectReady(k, acc) {
			continue
		}
		settle()
		if c.trace == nil {
			if out, ok := c.intersectEachValue(k, acc, acc != within); ok {
				acc = out
				continue
			}
		}
		acc = c.eval(k, acc)
	}
	if countLast && audience != nil {
		return nil, acc.AndCardinality(audience)
	}
	settle()
	if acc == within {
		acc = within.Clone()
	}
	return acc, acc.GetCardinality()
}

// cheapestNext returns the index of the operand of rest that evalAnd
// takes next among w candidates of a universe of u: the least cost for
// them over the share of candidates it removes.
func (c *evalCtx) cheapestNext(rest []node, w, u float64) int {
	best, bestRank := 0, math.Inf(1)
	for i, k := range rest {
		removes := 1 - min(1, k.estimate(c)/u)
		if rank := k.cost(c, w) / max(removes, 1e-6); rank < bestRank {
			best, bestRank = i, rank
		}
	}
	return best
}

// orderTwo returns which of the and's last two operands goes first, by
// the cost of both steps: the second meets a set the and owns, so a
// ready-made set is intersected into it in place, or, with counted, only
// counted — no new containers either way, which the one-step rank does
// not see. owned says whether the candidates are the and's already. ok is
// false, for the one-step rank's order, unless both operands are sets of
// the index or their unions (ready-made sets, their nots, in lists of
// postings, ors of ready-made sets and their nots), whose costs the model
// prices from their sizes, and one of them would be cheaper second: a
// range's cost over every friend is a rougher guess, and trusted against
// a second step it put wide ranges first (the suite's g010, g014: 2.1 ->
// 4.4 and 4.1 -> 5.5 ms).
//
// Issue 14, the suite's g037 at 10M (plan in three values, not a dense
// gender): the not went first, ranked on its cheaper first step, and its
// 3.8M friends were built whole; the union of the three plans first, then
// the not counted, builds one set instead of two: 1.23 -> 0.93 ms.
func (c *evalCtx) orderTwo(two []node, w, u float64, owned, counted bool) (first int, ok bool) {
	if !c.setLike(two[0]) || !c.setLike(two[1]) || !c.cheaperSecond(two[0], w) && !c.cheaperSecond(two[1], w) {
		return 0, false
	}
	cost := func(a, b node) float64 {
		after := w * min(1, a.estimate(c)/u)
		return c.stepCost(a, w, owned, false) + c.stepCost(b, after, true, counted)
	}
	if cost(two[1], two[0]) < cost(two[0], two[1]) {
		return 1, true
	}
	return 0, true
}

// setLike reports whether k is a set of the index or a union of them, or
// the not of one (see orderTwo).
func (c *evalCtx) setLike(k node) bool {
	if nn, ok := k.(*notNode); ok {
		k = nn.kid
	}
	switch k := k.(type) {
	case *strLeaf:
		return k.op == strIn
	case leaf:
		return k.direct(c) != nil
	case *orNode:
		_, rest := c.readyKids(k.kids)
		return len(rest) == 0
	}
	return false
}

// cheaperSecond reports whether k, met second by w candidates, is taken
// in place or counted for less than k.cost: a dense ready-made set or its
// not among dense candidates, or the not of an or of ready-made sets
// (subtracted each in place).
func (c *evalCtx) cheaperSecond(k node, w float64) bool {
	if bm, _ := c.readyOperand(k); bm != nil {
		return card(bm)/c.chunks() >= 4096 && w/c.chunks() >= 4096
	}
	return c.notOfReadyOr(k) != nil
}

// notOfReadyOr returns the ready-made sets of the or under k when k is the
// not of an or of ready-made sets; nil otherwise.
func (c *evalCtx) notOfReadyOr(k node) []*roaring.Bitmap {
	nn, ok := k.(*notNode)
	if !ok {
		return nil
	}
	o, ok := nn.kid.(*orNode)
	if !ok {
		return nil
	}
	ready, rest := c.readyKids(o.kids)
	if len(rest) > 0 {
		return nil
	}
	bms := make([]*roaring.Bitmap, len(ready))
	for i, l := range ready {
		bms[i] = l.direct(c)
	}
	return bms
}

// stepCost is k's cost for w candidates as a step of an and: k.cost,
// except where the candidates are the and's (owned) or only counted and k
// is cheaper second (cheaperSecond): a dense ready-made set costs a pass
// over the pairs of containers without new ones; a not of an or of
// ready-made sets, each subtracted in place (intersectReady). A counted or
// of ready-made sets, or its not, is priced by countedOrCost.
func (c *evalCtx) stepCost(k node, w float64, owned, counted bool) float64 {
	if counted {
		if cost, ok := c.countedOrCost(k, w); ok {
			return cost
		}
	}
	if !owned && !counted || !c.cheaperSecond(k, w) {
		return k.cost(c, w)
	}
	chunks := c.chunks()
	if bm, _ := c.readyOperand(k); bm != nil {
		per := float64(costContainerInPlace)
		if counted {
			per = costContainerCount
		}
		return min(w*costContains, costSetup+chunks*per)
	}
	// notNode.cost prices the or's union among the candidates and a new
	// set; intersectReady clears each set's members from them instead
	// (the suite's g097 at 10M: the not of two tags, 2.6M friends, went
	// first when only a dense set counted as cheaper second).
	cost := float64(costSetup)
	for _, bm := range c.notOfReadyOr(k) {
		if n := card(bm); n/chunks >= 4096 && w/chunks >= 4096 {
			cost += chunks * costContainerInPlace
		} else {
			cost += min(n, w) * costAndMixed
		}
	}
	return cost
}

// countedOrCost prices countReady's count of w candidates in an or of
// ready-made sets, or its not: probeAny where it would run, else the
// union or the parts, as the or's cost prices them. A not is counted as
// its or, subtracted from the candidates' count; no set of the not is
// built, which notNode.cost prices (the suite's g097 at 10M, the not of a
// 27% tag or a 4.6% one among 299,340 candidates: costed 4.3 ms and put
// first, 1.6–1.7 ms a Count, against 1.4–1.5 second). ok is false for any
// other k.
func (c *evalCtx) countedOrCost(k node, w float64) (cost float64, ok bool) {
	if nn, isNot := k.(*notNode); isNot {
		k = nn.kid
	}
	o, isOr := k.(*orNode)
	if !isOr {
		return 0, false
	}
	ready, rest := c.readyKids(o.kids)
	if len(rest) > 0 || len(ready) == 0 {
		return 0, false
	}
	cost = o.cost(c, w)
	bms := make([]*roaring.Bitmap, len(ready))
	for i, l := range ready {
		bms[i] = l.direct(c)
	}
	if probe, ok := c.probeAnyCost(w, bms); ok {
		cost = min(cost, probe)
	}
	return cost, true
}

// audienceAfter reports whether the audience may wait until after k, as
// in plain roaring, which intersects its operands from the smallest, the
// audience among them, and subtracts negations after them all; a last
// negation is only counted, and so may the audience be instead.
func (c *evalCtx) audienceAfter(k node, audience *roaring.Bitmap, countedLast bool) bool {
	if bm, neg := c.readyOperand(k); bm != nil {
		return countedLast || !neg && card(bm) <= card(audience)
	}
	if _, ok := k.(*orNode); ok {
		return countedLast || k.estimate(c) <= card(audience)
	}
	return countedLast
}

// intersectReady intersects acc in place with k when k's set is
// ready-made: a leaf's set or its not, an or of ready-made sets whose union
// is cheaper than an intersection each, or the not of such an or. It
// reports false, leaving acc alone, for any other k or when checking acc's
// members one by one beats the intersection.
func (c *evalCtx) intersectReady(k node, acc *roaring.Bitmap) bool {
	if bm, neg := c.readyOperand(k); bm != nil {
		if c.scanReady(bm, acc) {
			return false
		}
		if neg {
			acc.AndNot(bm)
		} else {
			acc.And(bm)
		}
		return true
	}
	// An or of ready-made sets whose union is cheaper than an
	// intersection each: intersect acc with the union in place.
	if o, ok := k.(*orNode); ok {
		if ready, others := c.readyKids(o.kids); len(others) == 0 && len(ready) >= 2 && c.unionFirst(ready, acc) {
			bms := make([]*roaring.Bitmap, len(ready))
			for i, l := range ready {
				bms[i] = l.direct(c)
			}
			acc.And(fastOr(bms))
			return true
		}
	}
	// A not of an or of ready-made sets (!(tag("a") || tag("b"))):
	// subtract each in place.
	if bms := c.readyNotOr(k, acc); bms != nil {
		if c.unionCheaper(bms, acc) {
			// Word by word against one union beats clearing the
			// members of each set one by one.
			acc.AndNot(fastOr(bms))
		} else {
			for _, bm := range bms {
				acc.AndNot(bm)
			}
		}
		return true
	}
	return false
}

// twoReady returns the indexes of the two leaves of kids with the smallest
// ready-made sets, or b < 0 if there are not two.
func (c *evalCtx) twoReady(kids []node) (a, b int) {
	a, b = -1, -1
	var na, nb float64
	for i, k := range kids {
		l, ok := k.(leaf)
		if !ok {
			continue
		}
		bm := l.direct(c)
		if bm == nil {
			continue
		}
		switch n := card(bm); {
		case a < 0 || n < na:
			a, na, b, nb = i, n, a, na
		case b < 0 || n < nb:
			b, nb = i, n
		}
	}
	return a, b
}

// readyOperand returns the ready-made bitmap of a leaf, or of the leaf
// under a not (neg), if the index holds one.
func (c *evalCtx) readyOperand(n node) (bm *roaring.Bitmap, neg bool) {
	if nn, ok := n.(*notNode); ok {
		n, neg = nn.kid, true
	}
	if l, ok := n.(leaf); ok {
		return l.direct(c), neg
	}
	return nil, false
}

// countReady counts the friends of acc in the and's last operand k without
// building the intersection, when k's set is ready-made or the union of
// ready-made sets, or the not of one; ok is false otherwise.
func (c *evalCtx) countReady(k node, acc *roaring.Bitmap) (n uint64, ok bool) {
	neg := false
	if nn, isNot := k.(*notNode); isNot {
		k, neg = nn.kid, true
	}
	var bm *roaring.Bitmap
	switch k := k.(type) {
	case leaf:
		bm = k.direct(c)
	case *orNode:
		ready, rest := c.readyKids(k.kids)
		if len(rest) > 0 || len(ready) == 0 {
			break
		}
		bms := make([]*roaring.Bitmap, len(ready))
		for i, l := range ready {
			bms[i] = l.direct(c)
		}
		if probeAnyWorth(acc, bms) {
			// Sparse candidates and sparse sets: acc's members looked up
			// in each block of the sets' members, no union built (the
			// suite's g002 at 10M: an or of three tags among 39,493
			// candidates, 1.47 -> 0.65 ms).
			n, _ = probeAny(acc, bms, false)
			if neg {
				n = acc.GetCardinality() - n
			}
			return n, true
		}
		if !c.unionFirst(ready, acc) {
			// acc's part of each set, ORed, where the sets' own union
			// costs more: roaring's FastOr merges every member of sparse
			// sets (costFastOrSparse). A not was always taken as the
			// union before: at 10M the suite's g028 counted a not of an
			// or of two tags among 4,276 candidates in 3.7 ms, now 3.0,
			// and g002 an or of three tags among 39,493 in 1.8, now 1.3.
			parts := make([]*roaring.Bitmap, len(bms))
			for i, bm := range bms {
				parts[i] = roaring.And(acc, bm)
			}
			n = fastOr(parts).GetCardinality()
			if neg {
				n = acc.GetCardinality() - n
			}
			return n, true
		}
		bm = fastOr(bms)
	}
	if bm == nil || c.scanReady(bm, acc) {
		return 0, false
	}
	n = c.andCardinality(acc, bm)
	if neg {
		n = acc.GetCardinality() - n
	}
	return n, true
}

// unionCheaper reports whether subtracting the union of bms from acc
// beats subtracting each in place: word by word against one union is
// cheaper than clearing the members of each set one by one, unless acc is
// small.
func (c *evalCtx) unionCheaper(bms []*roaring.Bitmap, acc *roaring.Bitmap) bool {
	a := card(acc)
	var sum, each float64
	sizes := make([]float64, len(bms))
	for i, bm := range bms {
		sizes[i] = card(bm)
		sum += sizes[i]
		each += c.andCost(a, sizes[i])
	}
	// Clearing members one by one costs more than the model's mixed
	// intersection (measured: about 2.7 ns a member against a word-wise
	// pass over a dense union); a dense union of sets against dense
	// candidates is the case where the union wins.
	chunks := c.chunks()
	if sum/chunks >= 4096 && a/chunks >= 4096 {
		return true
	}
	return c.orCost(sizes...)+c.andCost(a, min(sum, chunks*65536)) < each
}

// readyNotOr returns the ready-made sets of the operands of n if n is a
// not of an or of leaves that all have one, and subtracting each from acc
// beats evaluating the not; nil otherwise.
func (c *evalCtx) readyNotOr(n node, acc *roaring.Bitmap) []*roaring.Bitmap {
	bms := c.notOfReadyOr(n)
	for _, bm := range bms {
		if c.scanReady(bm, acc) {
			return nil
		}
	}
	return bms
}

// postingBitmap returns a posting as a bitmap the caller must not modify,
// building one for a few-member posting at most once per evaluation.
func (c *evalCtx) postingBitmap(p *posting) *roaring.Bitmap {
	if p.bm != nil {
		return p.bm.bitmap()
	}
	if bm, ok := c.built[p]; ok {
		return bm
	}
	if c.built == nil {
		c.built = map[*posting]*roaring.Bitmap{}
	}
	bm := p.bitmap()
	c.built[p] = bm
	return bm
}
