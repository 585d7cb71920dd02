package segment

// Counts kept with frozen sets. A Count of one set — a tag, a choice or
// string value or a list of them, a bool, an event ever had or within a
// window, a scenario's members, a range of a number, time or score made of
// whole bins, or the not of one — is the number of its members who follow,
// which a marketer sees beside every tag and filter (L-step's tag list
// shows each tag's friends). Each frozen set keeps that number once
// counted, until it or following changes: a write to either freezes a new
// set, which starts uncounted. The postings of one field's values, and a
// column's bins, are disjoint: their count is the sum of theirs.
//
// Issue 14: counting such a set read every container of it and of
// following, about 2.5 MB for a dense set at 10M: 0.06 ms warm but 0.16–
// 0.28 ms after an edit, once the CPU caches held other data (the suite's
// g056, a variant; g035, a week of days_since; g044, a bool), over twice
// the warm time. Compact counts the sets it freezes (countFollowers), so
// that the first count of a set after a bulk load reads no container.
//
// Only sets kept frozen (keepFrozen: over 4,096 members) keep a count: a
// smaller one is copied for each count that freezes it, and roaring's
// AndCardinality counts it for less.

// countKept counts n among the followers from the counts its frozen sets
// keep (see above). ok is false where n is not one such set or the not of
// one, where one of its sets is small, and where a set it reads has
// changed since it was frozen and is not yet due to be frozen again: the
// caller counts it another way.
func (c *evalCtx) countKept(n node) (uint64, bool) {
	if c.trace != nil || c.universe != c.ix.following || !littleEndian {
		return 0, false
	}
	k, neg := unsaved(n), false
	if nn, ok := k.(*notNode); ok {
		k, neg = unsaved(nn.kid), true
	}
	sets, ok := c.keptSets(k)
	if !ok {
		return 0, false
	}
	following := c.ix.followingFrozen.get(&c.ix.freezeMu, c.ix.following)
	if following == nil {
		return 0, false
	}
	var cnt uint64
	for _, fs := range sets {
		if fs == nil {
			return 0, false
		}
		cnt += followersIn(fs, following)
	}
	if neg {
		return following.members - cnt, true
	}
	return cnt, true
}

// keptSets returns the frozen sets, disjoint, whose union is k, when each
// is kept frozen (a nil set where one changed since it was frozen); ok is
// false where k is no such union.
func (c *evalCtx) keptSets(k node) (sets []*frozenSet, ok bool) {
	switch l := k.(type) {
	case *numLeaf, *daysLeaf:
		col, lo, hi := c.bandRange(k)
		if lo > hi {
			return nil, true // no one
		}
		cv := col.rangePlan(lo, hi, c.ix.known)
		if len(cv.partial) > 0 || col.unsetIn(lo, hi) {
			return nil, false // edge bins to check, or friends without a value
		}
		for _, g := range cv.in {
			if !keepFrozen(uint64(g.n)) {
				return nil, false
			}
			sets = append(sets, g.members.frozenSet())
		}
		for _, cg := range cv.cut {
			for _, b := range cg.in {
				if !keepFrozen(uint64(b.n)) {
					return nil, false
				}
				sets = append(sets, b.members.frozenSet())
			}
		}
		return sets, true
	case *strLeaf:
		col := l.column(c)
		if col == nil {
			return nil, true
		}
		if l.op != strIn {
			return nil, false
		}
		for _, id := range col.matching(l) {
			if col.postings[id].bm == nil || !keepFrozen(uint64(col.counts[id])) {
				return nil, false
			}
		}
	case *tagLeaf, *boolLeaf, *eventLeaf, *scenarioLeaf:
		bm := l.(leaf).direct(c)
		if bm == nil || !keepFrozen(bm.GetCardinality()) {
			return nil, false
		}
	default:
		return nil, false
	}
	return c.unionSets(nil, k), true
}

// followersIn returns how many of fs's members are in following, the
// followers' frozen set: kept in fs once counted, while following is that
// set. Readers that count fs at once store the same number.
func followersIn(fs, following *frozenSet) uint64 {
	if fs == following {
		return fs.members
	}
	if fs.followersOf.Load() == following.id {
		return fs.followers.Load()
	}
	n := countFrozen([]frozenTerm{{sets: []*frozenSet{fs}}, {sets: []*frozenSet{following}}})
	fs.followers.Store(n)
	fs.followersOf.Store(following.id) // after the count: a reader that sees the id sees it
	return n
}

// countFollowers counts the followers of every set Compact left frozen
// (see above), so that the first count of each reads no container. The
// caller holds the index's write lock, after Compact froze the sets.
func (ix *Index) countFollowers() {
	following := ix.followingFrozen.fs.Load()
	if following == nil {
		return // few followers: following is not kept frozen, and neither are counts
	}
	count := func(fs *frozenSet) {
		if fs != nil {
			followersIn(fs, following)
		}
	}
	numeric := func(col *numColumn) {
		for _, g := range col.groups {
			count(g.members.frozen.Load())
			for _, b := range g.bins {
				count(b.members.frozen.Load())
			}
		}
	}
	strs := func(col *strColumn) {
		for i := range col.postings {
			if p := col.postings[i].bm; p != nil {
				count(p.frozen.Load())
			}
		}
	}
	for _, tag := range ix.tags {
		count(tag.frozen.Load())
	}
	for _, fc := range ix.fields {
		switch {
		case fc.str != nil:
			strs(fc.str)
		case fc.num != nil:
			numeric(fc.num)
		default:
			count(fc.bl.yesFrozen.fs.Load())
			count(fc.bl.noFrozen.fs.Load())
		}
	}
	for _, col := range ix.scores {
		numeric(col)
	}
	numeric(ix.followedAt)
	for _, col := range ix.variants {
		strs(col)
	}
	for _, p := range ix.events {
		count(p.everFrozen.fs.Load())
	}
	for _, sc := range ix.scenarios {
		count(sc.membersFrozen.fs.Load())
	}
}
