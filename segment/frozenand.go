package segment

import "github.com/RoaringBitmap/roaring/v2"

// countFrozenAnd counts a top-level and among the followers in one pass
// over frozen sets (countFrozen), when each operand is a set the index
// holds ready — a tag, a string or choice field's values, an experiment's
// variants, following — or a union of such sets, or the not of one. ok is
// false for any other and, for an and that Explain traces, and for a
// segment drawn from every known friend (it mentions following or
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
// following's the last, or nil unless countFrozenAnd takes the and.
func (c *evalCtx) frozenTerms(kids []node) []frozenTerm {
	if c.trace != nil || c.universe != c.ix.following {
		return nil
	}
	for _, k := range kids {
		if !c.frozenReady(k) {
			return nil
		}
	}
	terms := make([]frozenTerm, 0, len(kids)+1)
	for _, k := range kids {
		terms = append(terms, c.frozenTerm(k))
	}
	return append(terms, frozenTerm{sets: []*frozenSet{c.ix.frozenFollowing()}})
}

// frozenReady reports whether k is an operand countFrozenAnd takes.
func (c *evalCtx) frozenReady(k node) bool {
	if nn, ok := k.(*notNode); ok {
		k = nn.kid
	}
	if o, ok := k.(*orNode); ok {
		for _, kid := range o.kids {
			if !frozenLeaf(kid) {
				return false
			}
		}
		return true
	}
	return frozenLeaf(k)
}

// frozenLeaf reports whether k is a leaf whose set the index holds ready
// (frozenSets).
func frozenLeaf(k node) bool {
	switch k := k.(type) {
	case *tagLeaf, *followingLeaf:
		return true
	case *strLeaf:
		return k.op == strIn
	}
	return false
}

// frozenTerm returns k's sets as a term, freezing those not yet frozen. k
// is frozenReady.
func (c *evalCtx) frozenTerm(k node) frozenTerm {
	var t frozenTerm
	if nn, ok := k.(*notNode); ok {
		k, t.neg = nn.kid, true
	}
	if o, ok := k.(*orNode); ok {
		for _, kid := range o.kids {
			t.sets = append(t.sets, c.frozenSets(kid)...)
		}
		return t
	}
	t.sets = c.frozenSets(k)
	_, t.disjoint = k.(*strLeaf) // one field's values: a friend holds one
	return t
}

// frozenSets returns the frozen sets whose union is the set of k, a
// frozenLeaf: none if no one is in it.
func (c *evalCtx) frozenSets(k node) []*frozenSet {
	switch l := k.(type) {
	case *tagLeaf:
		if tag := c.ix.tags[l.name]; tag != nil {
			return []*frozenSet{tag.frozenSet()}
		}
		return nil
	case *followingLeaf:
		return []*frozenSet{c.ix.frozenFollowing()}
	}
	l := k.(*strLeaf)
	col := l.column(c)
	if col == nil {
		return nil
	}
	var sets []*frozenSet
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
