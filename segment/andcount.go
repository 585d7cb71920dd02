package segment

import "github.com/RoaringBitmap/roaring/v2"

// countEachValue counts the friends of acc in k when k is an in list of
// a string column's values (or its not) and the cheapest way is to count
// each value's posting among acc and add: a friend holds one value, so the
// postings are disjoint and their union, which the leaf's own ways build
// or check, is not needed for a count. ok is false for any other k, or
// when another way is cheaper.
//
// Issue 14, the suite's g027 at 10M (two tags, then area in two
// prefectures among 15,231 candidates): the union of the two postings
// was most of the count, 0.57 ms against plain roaring's 0.46.
func (c *evalCtx) countEachValue(k node, acc *roaring.Bitmap) (n uint64, ok bool) {
	postings, neg := c.eachValue(k, acc, false)
	if postings == nil {
		return 0, false
	}
	for _, bm := range postings {
		n += acc.AndCardinality(bm)
	}
	if neg {
		n = acc.GetCardinality() - n
	}
	return n, true
}

// intersectEachValue is countEachValue's way for an and that goes on:
// acc's part of each posting, ORed (small, disjoint parts), or, for a not,
// each posting subtracted from acc in place (owned: acc is the caller's to
// change). ok is false where countEachValue's would be.
func (c *evalCtx) intersectEachValue(k node, acc *roaring.Bitmap, owned bool) (out *roaring.Bitmap, ok bool) {
	postings, neg := c.eachValue(k, acc, true)
	switch {
	case postings == nil || neg && !owned:
		return nil, false
	case neg:
		for _, bm := range postings {
			acc.AndNot(bm)
		}
		return acc, true
	}
	parts := make([]*roaring.Bitmap, len(postings))
	for i, bm := range postings {
		parts[i] = roaring.And(acc, bm)
	}
	return fastOr(parts), true
}

// eachValue returns the postings of k's values, and whether k is their
// not, when k is an in list of a string column and taking acc's part of
// each posting beats the leaf's own ways; nil otherwise. build adds what
// ORing the parts costs.
func (c *evalCtx) eachValue(k node, acc *roaring.Bitmap, build bool) (postings []*roaring.Bitmap, neg bool) {
	if nn, isNot := k.(*notNode); isNot {
		k, neg = nn.kid, true
	}
	l, isStr := k.(*strLeaf)
	if !isStr || l.op != strIn || len(l.values) < 2 {
		return nil, false
	}
	col := l.column(c)
	if col == nil {
		return nil, false
	}
	w := card(acc)
	if w/c.chunks() >= 4096 {
		// Dense candidates meet each posting word by word, as the union
		// would, once per value: no better than ORing the postings and
		// slower in the A/B (the suite's g037 at 10M, three plans among
		// 3.8M candidates: 0.90 -> 1.06 ms), though the model costs both
		// alike.
		return nil, false
	}
	ids := col.matching(l) // distinct: an in leaf's values are (compare.go)
	var each float64
	parts := make([]float64, len(ids))
	for i, id := range ids {
		members := float64(col.counts[id])
		each += c.andCost(members, w)
		if col.postings[id].bm == nil {
			each += members * costSortFew // made a bitmap first (postingBitmap)
		}
		parts[i] = min(members, w*members/max(1, card(c.universe)))
	}
	if build && !neg {
		each += c.orCost(parts...)
	}
	if direct, table, index := l.stringCosts(c, col, w); each >= min(direct, table, index) {
		return nil, false
	}
	postings = make([]*roaring.Bitmap, len(ids))
	for i, id := range ids {
		postings[i] = c.postingBitmap(&col.postings[id])
	}
	return postings, neg
}
