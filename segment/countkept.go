package segment

import "github.com/RoaringBitmap/roaring/v2"

// Counts kept with frozen sets. A Count of one set — a tag, a choice or
// string value or a list of them, a bool, an event ever had or within a
// window, a scenario's members, a range of a number, time or score made of
// whole bins, or the not of one — is the number of its members who follow,
// which a marketer sees beside every tag and filter (L-step's tag list
// shows each tag's friends). Each frozen set keeps that number once
// counted, with the index's followGen at the time: a follow or unfollow
// makes every kept number stale, and the next count of each set counts it
// again, with roaring's AndCardinality as before, and keeps it. A write to
// a set drops its frozen form and the number with it; until Compact, or
// the counts of ands that read the set, freeze it again, a count of it
// goes as before. The postings of one field's values, and a column's bins,
// are disjoint: their count is the sum of theirs.
//
// Issue 14: counting such a set read every container of it and of
// following, about 2.5 MB for a dense set at 10M: 0.06 ms warm but 0.16–
// 0.33 ms after an edit, once the CPU caches held other data (the suite's
// g056, a variant; g035, a week of days_since; g044, a bool), over twice
// the warm time. Compact counts the sets it freezes (countFollowers), so
// that the first count of a set after a bulk load reads no container.
//
// Only sets kept frozen (keepFrozen: over 4,096 members) keep a number;
// roaring's AndCardinality counts a smaller one for little.

// countKept counts n among the followers from the counts its frozen sets
// keep (see above). ok is false where n is not one such set or the not of
// one, where one of its sets is small, and where a set it reads has
// changed since it was frozen: the caller counts it another way. It
// freezes nothing (a count of one set never did): a set changed since it
// was frozen waits for Compact, or for an and's count, to be frozen again.
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
	var cnt uint64
	for _, s := range sets {
		cnt += c.ix.followersIn(s)
	}
	if neg {
		return c.ix.following.GetCardinality() - cnt, true
	}
	return cnt, true
}

// keptSet is a set kept frozen: its frozen form, and the bitmap that is
// roaring's view of the same bytes.
type keptSet struct {
	fs *frozenSet
	bm *roaring.Bitmap
}

// keptSets returns the sets, disjoint, whose union is k, when each is kept
// frozen and unchanged since; ok is false otherwise, and where k is no
// such union.
func (c *evalCtx) keptSets(k node) (sets []keptSet, ok bool) {
	deferred := func(d *deferredSet) bool {
		bm := d.bitmap() // merged first: a merge that changes the set drops its frozen form
		fs := d.frozen.Load()
		if fs == nil {
			return false
		}
		sets = append(sets, keptSet{fs, bm})
		return true
	}
	mirror := func(m *frozenMirror, bm *roaring.Bitmap) bool {
		fs := m.fs.Load()
		if fs == nil {
			return false
		}
		sets = append(sets, keptSet{fs, bm})
		return true
	}
	switch l := k.(type) {
	case *numLeaf, *daysLeaf:
		bins, ok := c.wholeBinSets(k)
		if !ok {
			return nil, false
		}
		for _, b := range bins {
			if !deferred(b) {
				return nil, false
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
			if p := col.postings[id].bm; p == nil || !deferred(p) {
				return nil, false
			}
		}
		return sets, true
	case *tagLeaf:
		tag := c.ix.tags[l.name]
		return sets, tag != nil && deferred(tag)
	case *boolLeaf:
		bl := c.ix.fields[l.field.id].bl
		if l.val {
			return sets, mirror(&bl.yesFrozen, bl.yes)
		}
		return sets, mirror(&bl.noFrozen, bl.no)
	case *eventLeaf:
		p := c.ix.events[l.key]
		switch {
		case !l.anyEvent():
			// A count in a range (count("click", "x") >= 3): the set of
			// those who had the event says nothing of how often.
			return nil, false
		case p == nil:
			return nil, false
		case l.days == 0:
			return sets, mirror(&p.everFrozen, p.ever)
		}
		ws := p.windowCache(l.days, c.today) // as direct makes it
		return sets, mirror(&ws.frozen, ws.bm)
	case *scenarioLeaf:
		sc := c.ix.scenarios[l.name]
		return sets, sc != nil && mirror(&sc.membersFrozen, sc.members)
	}
	return nil, false
}

// followersIn returns how many of s's members follow: kept in its frozen
// form once counted, while following is as it was then (followGen).
// Readers that count s at once store the same number.
func (ix *Index) followersIn(s keptSet) uint64 {
	gen := ix.followGen + 1 // 0 in followersOf: never counted
	if s.fs.followersOf.Load() == gen {
		return s.fs.followers.Load()
	}
	n := ix.following.AndCardinality(s.bm)
	s.fs.followers.Store(n)
	s.fs.followersOf.Store(gen) // after the count: a reader that sees gen sees it
	return n
}

// countFollowers counts the followers of every set Compact left frozen
// that a count of one set reads (see above), so that the first count of
// each reads no container. The caller holds the index's write lock, after
// Compact froze the sets.
func (ix *Index) countFollowers() {
	deferred := func(d *deferredSet) {
		if fs := d.frozen.Load(); fs != nil {
			ix.followersIn(keptSet{fs, d.bm.Load()})
		}
	}
	mirror := func(m *frozenMirror, bm *roaring.Bitmap) {
		if fs := m.fs.Load(); fs != nil {
			ix.followersIn(keptSet{fs, bm})
		}
	}
	numeric := func(col *numColumn) {
		for _, g := range col.groups {
			deferred(g.members)
			for _, b := range g.bins {
				deferred(b.members)
			}
		}
	}
	strs := func(col *strColumn) {
		for i := range col.postings {
			if p := col.postings[i].bm; p != nil {
				deferred(p)
			}
		}
	}
	for _, tag := range ix.tags {
		deferred(tag)
	}
	for _, fc := range ix.fields {
		switch {
		case fc.str != nil:
			strs(fc.str)
		case fc.num != nil:
			numeric(fc.num)
		default:
			mirror(&fc.bl.yesFrozen, fc.bl.yes)
			mirror(&fc.bl.noFrozen, fc.bl.no)
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
		mirror(&p.everFrozen, p.ever)
	}
	for _, sc := range ix.scenarios {
		mirror(&sc.membersFrozen, sc.members)
	}
}
