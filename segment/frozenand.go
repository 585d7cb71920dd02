package segment

import (
	"maps"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// countFrozenAnd counts the and of kids among the followers in one pass
// over frozen sets (countFrozen), when each operand is a set the index
// holds ready — a tag, a string or choice field's values, an experiment's
// variants, a bool field's true or false, an event ever had or had within
// a window of days (clicked("x"), clicked("x", 30), answered("q1",
// "yes")), a scenario's members or its steps in a range, following — or a
// union of such sets, or the not of one, a range of a number, time or
// score (frozenband.go), or an and of such operands (a saved segment).
// ok is false for any other and, for an and that Explain traces, and for
// a segment drawn from every known friend (it mentions following or
// blocked).
//
// Issue 14: plain roaring, which builds every intersection but the last,
// was faster than the planner on the suite's conjunctions of dense sets,
// since the planner ran the same operations (at 10M, g085
// !tag("t6") && tag("t7"): 0.375 ms against plain's 0.346).
func (c *evalCtx) countFrozenAnd(kids []node) (uint64, bool) {
	terms := c.frozenTerms(kids)
	if terms == nil {
		return 0, false
	}
	return countFrozen(terms), true
}

// evalFrozenAnd is countFrozenAnd's set, built (buildFrozen) in one pass,
// where roaring builds each intersection, when the set is expected dense:
// over 8192 members in a 65,536-ID block, the operands taken as
// independent. roaring keeps a block of up to 4096 members as an array,
// which buildFrozen makes by reading the block's bits one by one
// (FromDense, 3.5 ns a member at 10M against 1.3 for roaring's And of the
// same sets: BenchmarkFrozenAnd), while a denser block is kept as the
// words the kernel wrote. ok is false where countFrozenAnd's is, for a set
// expected sparser, and where the friends' IDs are far apart
// (buildFrozen).
func (c *evalCtx) evalFrozenAnd(kids []node) (*roaring.Bitmap, bool) {
	terms := c.frozenTerms(kids)
	if terms == nil || expectedPerBlock(terms) < 2*arrayMaxSize {
		return nil, false
	}
	return buildFrozen(terms)
}

// expectedPerBlock returns the members a 65,536-ID block of the universe
// (the last term) is expected to hold in the conjunction of terms, taken
// as independent.
func expectedPerBlock(terms []frozenTerm) float64 {
	universe := terms[len(terms)-1].sets[0]
	span := 65536 * float64(max(1, len(universe.keys)))
	share := 1.0
	for _, t := range terms {
		var n float64
		for _, fs := range t.sets {
			n += float64(fs.members)
		}
		d := min(1, n/span)
		if t.neg {
			d = 1 - d
		}
		share *= d
	}
	return 65536 * share
}

// frozenTerms returns the terms of an and of kids among the followers,
// following's the last, or nil unless countFrozenAnd takes the and: nil
// too while a set it reads has changed since it was frozen and is not yet
// due to be frozen again.
func (c *evalCtx) frozenTerms(kids []node) []frozenTerm {
	if c.trace != nil || c.universe != c.ix.following || !littleEndian {
		return nil
	}
	for _, k := range kids {
		if !frozenReady(k) {
			return nil
		}
	}
	terms := make([]frozenTerm, 0, len(kids)+1)
	for _, k := range kids {
		terms = c.appendTerms(terms, k)
	}
	terms = append(terms, frozenTerm{sets: []*frozenSet{c.ix.followingFrozen.get(&c.ix.freezeMu, c.ix.following)}})
	for _, t := range terms {
		if slices.Contains(t.sets, nil) {
			return nil // a set changed since it was frozen (deferredSet.frozenSet)
		}
	}
	return terms
}

// unsaved returns the plan of a saved segment, k itself otherwise.
func unsaved(k node) node {
	for {
		s, ok := k.(*savedNode)
		if !ok {
			return k
		}
		k = s.kid
	}
}

// frozenReady reports whether k is an operand countFrozenAnd takes: a set
// the index holds ready, a union of them, the not of a set or a union, or
// an and of such operands (a saved segment, say).
func frozenReady(k node) bool {
	switch k := unsaved(k).(type) {
	case *notNode:
		return frozenUnion(k.kid) || frozenBand(k.kid) || isStep(k.kid)
	case *stepLeaf: // with -1 in range too: the not of the other steps
		return true
	case *andNode:
		for _, kid := range k.kids {
			if !frozenReady(kid) {
				return false
			}
		}
		return true
	}
	return frozenUnion(k) || frozenBand(k)
}

// frozenUnion reports whether k is a set the index holds ready or a union
// of such sets. A union may hold a band (a range of a number, time or
// score), taken when its range is made of whole bins (unionSets).
func frozenUnion(k node) bool {
	switch k := unsaved(k).(type) {
	case *orNode:
		for _, kid := range k.kids {
			if !frozenUnion(kid) && !frozenBand(kid) {
				return false
			}
		}
		return true
	case *tagLeaf, *followingLeaf, *boolLeaf, *scenarioLeaf:
		return true
	case *strLeaf:
		return k.op == strIn
	case *eventLeaf:
		return k.anyEvent() // ever or a window: one bitmap, cached for the day
	case *stepLeaf:
		return !k.holds(-1) // the steps in range
	}
	return false
}

// isStep reports whether k is a scenario_step range.
func isStep(k node) bool {
	_, ok := unsaved(k).(*stepLeaf)
	return ok
}

// appendTerms appends k's terms to terms, freezing the sets not yet
// frozen: an and's operands each, otherwise one term. k is frozenReady.
func (c *evalCtx) appendTerms(terms []frozenTerm, k node) []frozenTerm {
	k = unsaved(k)
	if a, ok := k.(*andNode); ok {
		for _, kid := range a.kids {
			terms = c.appendTerms(terms, kid)
		}
		return terms
	}
	var t frozenTerm
	if nn, ok := k.(*notNode); ok {
		k, t.neg = unsaved(nn.kid), true
	}
	if frozenBand(k) {
		return c.appendBandTerms(terms, k, t.neg)
	}
	if st, ok := k.(*stepLeaf); ok && st.holds(-1) {
		// Outside the scenario, or at a step in range: not at a step
		// out of range.
		t.neg = !t.neg
		t.sets, t.disjoint = c.stepSets(nil, st, false), true
		return append(terms, t)
	}
	t.sets = c.unionSets(nil, k)
	switch k.(type) {
	case *strLeaf, *stepLeaf: // one field's values, or one scenario's steps: a friend holds one
		t.disjoint = true
	}
	return append(terms, t)
}

// unionSets appends the frozen sets whose union is the set of k, a
// frozenUnion, to sets: none for a set no one is in, nil for one changed
// since it was frozen and not yet due to be frozen again.
func (c *evalCtx) unionSets(sets []*frozenSet, k node) []*frozenSet {
	switch l := unsaved(k).(type) {
	case *orNode:
		for _, kid := range l.kids {
			sets = c.unionSets(sets, kid)
		}
		return sets
	case *tagLeaf:
		if tag := c.ix.tags[l.name]; tag != nil {
			sets = append(sets, tag.frozenSet())
		}
		return sets
	case *followingLeaf:
		return append(sets, c.ix.followingFrozen.get(&c.ix.freezeMu, c.ix.following))
	case *eventLeaf:
		p := c.ix.events[l.key]
		switch {
		case p == nil:
		case l.days == 0:
			sets = append(sets, p.everFrozen.get(&c.ix.freezeMu, p.ever))
		default: // made and cached for the day if it is not (frozen as it is made)
			ws := p.windowCache(l.days, c.today)
			sets = append(sets, ws.frozen.get(&c.ix.freezeMu, ws.bm))
		}
		return sets
	case *scenarioLeaf:
		if sc := c.ix.scenarios[l.name]; sc != nil {
			sets = append(sets, sc.membersFrozen.get(&c.ix.freezeMu, sc.members))
		}
		return sets
	case *stepLeaf:
		return c.stepSets(sets, l, true)
	case *numLeaf, *daysLeaf:
		return c.wholeBins(sets, l)
	case *boolLeaf:
		bl := c.ix.fields[l.field.id].bl
		if l.val {
			return append(sets, bl.yesFrozen.get(&c.ix.freezeMu, bl.yes))
		}
		return append(sets, bl.noFrozen.get(&c.ix.freezeMu, bl.no))
	}
	l := unsaved(k).(*strLeaf)
	col := l.column(c)
	if col == nil {
		return sets
	}
	for _, id := range col.matching(l) {
		p := &col.postings[id]
		if p.bm == nil {
			// Up to fewMax members, kept as a slice: frozen for this
			// count, a copy of at most 2 KB.
			_, fs := freeze(c.postingBitmap(p))
			sets = append(sets, fs)
			continue
		}
		sets = append(sets, p.bm.frozenSet())
	}
	return sets
}

// maxStepSets is the most steps of a scenario a term of the one pass
// reads as its sets: a step of up to 4,096 members is copied for each
// count that reads it (keepFrozen), and a scenario of many steps, most of
// them few, cost the pass more than the planner's way (review: 20 steps
// of a range holding -1, 97 µs against 17 at 200K friends). All of a
// scenario's steps are read as its members instead.
const maxStepSets = 8

// stepSets appends to sets the frozen sets of l's scenario's steps in l's
// range (in) or out of it, -1 aside: the scenario's members for all of
// them, nil (roaring's way) for more than maxStepSets of them.
func (c *evalCtx) stepSets(sets []*frozenSet, l *stepLeaf, in bool) []*frozenSet {
	sc := c.ix.scenarios[l.name]
	if sc == nil {
		return sets
	}
	n := len(sets)
	for _, s := range slices.Sorted(maps.Keys(sc.steps)) { // in order: the same plan each count
		if l.holds(s) == in {
			st := sc.steps[s]
			sets = append(sets, st.frozen.get(&c.ix.freezeMu, st.bm))
		}
	}
	switch m := len(sets) - n; {
	case m == len(sc.steps) && m > 1: // every step: the members
		return append(sets[:n], sc.membersFrozen.get(&c.ix.freezeMu, sc.members))
	case m > maxStepSets:
		return append(sets, nil) // roaring's way (frozenTerms)
	}
	return sets
}

// wholeBins appends to sets the frozen sets of band k's bins, when its
// range is made of whole bins and holds no friend without a value: an or
// of tags and such a range, (tag("t3") || age <= 33), is then a union of
// sets in the one pass. Otherwise it appends nil, so that the and takes
// the planner's way: a union has no place for an edge bin's checks. (The
// suite's g051 at 10M, (tag("t3") || tag("t1") || age <= 33) &&
// (tag("t8") || tag("t40")): 5.5 ms the planner's way.)
func (c *evalCtx) wholeBins(sets []*frozenSet, k node) []*frozenSet {
	bins, ok := c.wholeBinSets(k)
	if !ok {
		return append(sets, nil)
	}
	return appendFrozen(sets, bins)
}

// wholeBinSets returns the bins and groups of bins whose union is band k
// (frozenBand), disjoint, when its range is made of whole bins and holds
// no friend without a value; none for an empty range. ok is false
// otherwise.
func (c *evalCtx) wholeBinSets(k node) (bins []*deferredSet, ok bool) {
	col, lo, hi := c.bandRange(k)
	if lo > hi {
		return nil, true // no one
	}
	cv := col.rangePlan(lo, hi, c.ix.known)
	if len(cv.partial) > 0 || col.unsetIn(lo, hi) {
		return nil, false // edge bins to check, or friends without a value
	}
	for _, g := range cv.in {
		bins = append(bins, g.members)
	}
	for _, cg := range cv.cut {
		for _, b := range cg.in {
			bins = append(bins, b.members)
		}
	}
	return bins, true
}
