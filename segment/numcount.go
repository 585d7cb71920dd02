package segment

import "github.com/RoaringBitmap/roaring/v2"

// Counting a range among candidates without building it. A column's bins
// and groups are disjoint, so the friends of w in [lo, hi] are the sum of
// w's friends in each piece the range covers whole, plus those of the edge
// bins whose key is in range: a cardinality per piece, no union, no new
// containers. When the range covers most of the column, the pieces outside
// it are subtracted from w's friends with a value instead.

// countCosts estimates countCover's two ways for w candidates: summing
// the pieces inside the range, or subtracting those outside it.
func (c *evalCtx) countCosts(col *numColumn, cv cover, w float64) (inside, outside float64) {
	for _, g := range cv.in {
		inside += c.pieceCost(g.members.bitmap(), float64(g.n), w)
	}
	for _, g := range cv.out {
		outside += c.pieceCost(g.members.bitmap(), float64(g.n), w)
	}
	outside += c.andCost(card(col.set), w)
	for _, cg := range cv.cut {
		for _, b := range cg.in {
			inside += c.pieceCost(b.members.bitmap(), float64(b.n), w)
		}
		for _, b := range cg.out {
			outside += c.pieceCost(b.members.bitmap(), float64(b.n), w)
		}
		for _, b := range cg.partials { // subtracted whole, then added back as checked
			outside += c.pieceCost(b.members.bitmap(), float64(b.n), w)
		}
	}
	var edges float64
	for _, b := range cv.partial {
		edges += c.edgeCountCost(col, b, w)
	}
	if col.unsetIn(cv.lo, cv.hi) { // the unset friends: two cardinalities
		edges += c.andCost(card(c.ix.known), w) + c.andCost(card(col.set), w)
	}
	return inside + edges, outside + edges
}

// edgeCountCost estimates counting the friends of w in an edge bin, the
// cheaper of two ways: check the bin's members among w, or check all its
// members and count those in w.
func (c *evalCtx) edgeCountCost(col *numColumn, b *bin, w float64) float64 {
	among, all := c.edgeCountWays(col, b, w)
	return min(among, all)
}

func (c *evalCtx) edgeCountWays(col *numColumn, b *bin, w float64) (among, all float64) {
	bm, n := b.members.bitmap(), float64(b.n)
	return c.pieceCost(bm, n, w) + c.checkCost(&col.codes, c.membersAmong(bm, n, w)), c.checkCost(&col.codes, n) + c.pieceCost(bm, n/2, w)
}

// countCover counts the friends of w whose key lies in the cover's range,
// from the pieces inside it, or with outside, by subtracting the pieces
// outside it from w's friends with a value; an edge bin's members are
// checked among w when among says so, else all of them and then counted
// in w.
func (col *numColumn) countCover(cv cover, w, known *roaring.Bitmap, outside bool, among func(edge *bin) bool) uint64 {
	var n uint64
	if outside {
		n = w.AndCardinality(col.set)
		for _, g := range cv.out {
			n -= w.AndCardinality(g.members.bitmap())
		}
		for _, cg := range cv.cut {
			for _, b := range cg.out {
				n -= w.AndCardinality(b.members.bitmap())
			}
			for _, b := range cg.partials {
				n -= w.AndCardinality(b.members.bitmap())
			}
		}
	} else {
		for _, g := range cv.in {
			n += w.AndCardinality(g.members.bitmap())
		}
		for _, cg := range cv.cut {
			for _, b := range cg.in {
				n += w.AndCardinality(b.members.bitmap())
			}
		}
	}
	for _, b := range cv.partial {
		if among(b) {
			n += col.countRange(roaring.And(b.members.bitmap(), w), cv.lo, cv.hi)
		} else {
			n += col.filterRange(b.members.bitmap(), cv.lo, cv.hi).AndCardinality(w)
		}
	}
	if col.unsetIn(cv.lo, cv.hi) {
		n += w.AndCardinality(known) - w.AndCardinality(col.set)
	}
	return n
}
