package segment

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// Numeric leaves: ranges over the binned columns of int, float and time
// fields, scores and the follow time (numLeaf), and calendar days since a
// time (daysLeaf), which becomes a range once now is known.

var (
	_ leaf = (*numLeaf)(nil)
	_ leaf = (*daysLeaf)(nil)
)

type numKind uint8

const (
	numField numKind = iota
	numScore
	numFollowedAt
)

// numRef names an int64-keyed column: an int, float or time field (floats
// and times are mapped to order-preserving int64 keys), a score, or the time
// of the last follow.
type numRef struct {
	kind numKind
	id   int // field or score index
	name string
	typ  stepcast.FieldType // FieldInt, FieldFloat or FieldTime
}

func (r numRef) String() string {
	switch r.kind {
	case numScore:
		return fmt.Sprintf("score(%q)", r.name)
	case numFollowedAt:
		return "followed_at"
	}
	return r.name
}

// numLeaf: the column's key lies in [lo, hi].
type numLeaf struct {
	ref    numRef
	lo, hi int64
	loc    *time.Location // for printing times
}

// daysLeaf: the number of calendar days from the time column to now lies in
// [lo, hi]; resolved against now into a numLeaf on the column at evaluation.
type daysLeaf struct {
	ref    numRef
	lo, hi int64
}

func (l *numLeaf) String() string {
	format := func(k int64, _ int) string { return formatKey(l.ref.typ, k, l.loc) }
	if l.ref.typ == stepcast.FieldFloat && l.lo != l.hi {
		// x > 0.5 is stored as x >= nextafter(0.5); print it the short way.
		short := func(k int64) string { return formatKey(stepcast.FieldFloat, k, nil) }
		switch {
		case l.lo != math.MinInt64 && l.hi != math.MaxInt64: // a band, perhaps merged from two comparisons
			loOp, lo := "<=", short(l.lo)
			if b := short(l.lo - 1); len(b) < len(lo) {
				loOp, lo = "<", b
			}
			hiOp, hi := "<=", short(l.hi)
			if b := short(l.hi + 1); len(b) < len(hi) {
				hiOp, hi = "<", b
			}
			if loOp == "<" || hiOp == "<" {
				return fmt.Sprintf("%s %s %v %s %s", lo, loOp, l.ref, hiOp, hi)
			}
		case l.lo == math.MinInt64:
			if a, b := short(l.hi), short(l.hi+1); len(b) < len(a) {
				return fmt.Sprintf("%v < %s", l.ref, b)
			}
		case l.hi == math.MaxInt64:
			if a, b := short(l.lo), short(l.lo-1); len(b) < len(a) {
				return fmt.Sprintf("%v > %s", l.ref, b)
			}
		}
	}
	return fmt.Sprintf("%v %s", l.ref, rangeString(l.lo, l.hi, format))
}

func (l *daysLeaf) String() string {
	name := "followed_days"
	if l.ref.kind == numField {
		name = fmt.Sprintf("days_since(%q)", l.ref.name)
	}
	return fmt.Sprintf("%s %s", name, rangeString(l.lo, l.hi, strconv.FormatInt))
}

// Keys: every numeric column stores int64 keys whose order is the order of
// the values.

// floatKey maps a float to an int64 with the same order. -0 is folded into
// +0 (they compare equal); NaN must be excluded by the caller.
func floatKey(f float64) int64 {
	if f == 0 {
		f = 0
	}
	k := int64(math.Float64bits(f))
	if k < 0 {
		k ^= math.MaxInt64
	}
	return k
}

func keyFloat(k int64) float64 {
	if k < 0 {
		k ^= math.MaxInt64
	}
	return math.Float64frombits(uint64(k))
}

// timeKey is the Unix time in whole seconds (the index's time precision).
func timeKey(t time.Time) int64 { return t.Unix() }

func formatKey(t stepcast.FieldType, k int64, loc *time.Location) string {
	switch t {
	case stepcast.FieldFloat:
		return strconv.FormatFloat(keyFloat(k), 'g', -1, 64)
	case stepcast.FieldTime:
		if loc == nil {
			loc = time.UTC
		}
		return time.Unix(k, 0).In(loc).Format(time.RFC3339)
	}
	return strconv.FormatInt(k, 10)
}

func numCol(c *evalCtx, r numRef) *numColumn {
	switch r.kind {
	case numScore:
		return c.ix.scores[r.id]
	case numFollowedAt:
		return c.ix.followedAt
	}
	return c.ix.fields[r.id].num
}

// rangeEval computes the friends of within whose key lies in [lo, hi], by
// the cheapest of three ways: check each candidate's code; OR the bins the
// range covers whole and check the edge bins' members, then intersect; or
// intersect each bin with the candidates first, so that ORing and edge
// checks only touch candidates.
func rangeEval(c *evalCtx, col *numColumn, lo, hi int64, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	if lo > hi {
		return roaring.New(), "index", 0
	}
	nw := card(w)
	cv := col.rangePlan(lo, hi, c.ix.known)
	scan, whole, restricted := c.rangeCosts(col, lo, hi, cv, nw)
	switch {
	case scan <= whole && scan <= restricted:
		return col.filterRange(w, lo, hi), "scan", int(nw)
	case whole <= restricted:
		return c.rangeAmong(col, cv, w)
	}
	// Restricted: intersect each piece with the candidates first.
	parts := make([]*roaring.Bitmap, 0, len(cv.in)+len(cv.partial)+1)
	if col.unsetIn(lo, hi) {
		parts = append(parts, roaring.AndNot(w, col.set))
	}
	for _, g := range cv.in {
		parts = append(parts, roaring.And(g.members.bitmap(), w))
	}
	for _, cg := range cv.cut {
		for _, b := range cg.in {
			parts = append(parts, roaring.And(b.members.bitmap(), w))
		}
	}
	checked := 0
	for _, b := range cv.partial {
		cand := roaring.And(b.members.bitmap(), w)
		checked += int(cand.GetCardinality())
		parts = append(parts, col.filterRange(cand, lo, hi))
	}
	return orMany(parts), "index", checked
}

// rangeCosts estimates rangeEval's three ways for w candidates.
func (c *evalCtx) rangeCosts(col *numColumn, lo, hi int64, cv cover, w float64) (scan, whole, restricted float64) {
	members := float64(cv.est)
	// A piece among candidates sparse in its containers costs by the
	// candidates there (pieceCost). Among dense candidates each piece's
	// part is a dense container for every container it spans, copied and
	// then ORed again: costed as if spread, as the planner was tuned
	// (issue 14, g076 at 1M: followed_days >= 365 restricted among 92k
	// candidates took 0.4 ms, where the whole range took 0.07).
	piece := c.pieceCost
	if w/c.chunks() >= 4096 {
		piece = func(_ *roaring.Bitmap, n, w float64) float64 { return c.andCost(n, w) }
	}
	// The checks, and the hits set into the result (without them a scan
	// of 72,931 candidates for age <= 33 looked cheaper than the bins and
	// took 0.3 ms more: g051 at 1M).
	scan = costSetup + c.checkCost(&col.codes, w) + w*members/max(1, card(c.ix.known))*costSetBit
	// The interior, as rangeBitmap builds it.
	var inSizes []float64
	for _, g := range cv.in {
		inSizes = append(inSizes, float64(g.n))
		restricted += piece(g.members.bitmap(), float64(g.n), w)
	}
	cutCost := 0.0
	for _, cg := range cv.cut {
		// As rangeBitmap builds a cut group's part: its inside bins joined
		// to the one union, or the group less its other bins. Priced as
		// that difference built whole even where interior joins the whole
		// group and takes the other bins away in place (takeAway), which
		// costs less: priced so, the whole way won over the pieces among
		// candidates that lie in a few containers (g064 at 10M, Eval:
		// spend in 5000..24999 among the 748k friends of the last 96
		// days, 1.0 -> 2.9 ms).
		switch {
		case cg.inN == 0:
		case cg.inN <= cg.outN:
			for _, b := range cg.in {
				inSizes = append(inSizes, float64(b.n))
			}
		default:
			inSizes = append(inSizes, float64(cg.inN))
			cutCost += c.orCost(float64(cg.outN)) + c.andCost(float64(cg.g.n), float64(cg.outN))
		}
		for _, b := range cg.in {
			restricted += piece(b.members.bitmap(), float64(b.n), w)
		}
	}
	if cv.inN > cv.outN {
		// Every friend with a value, copied, and the rest taken away.
		var outSizes []float64
		for _, g := range cv.out {
			outSizes = append(outSizes, float64(g.n))
		}
		for _, cg := range cv.cut {
			outSizes = append(outSizes, binSizes(cg.out, cg.partials)...)
		}
		whole = c.copyCost(float64(col.total)) + c.takeAwayCost(outSizes...)
	} else {
		whole = c.orCost(inSizes...) + cutCost
	}
	for _, b := range cv.partial {
		n, bm := float64(b.n), b.members.bitmap()
		// Priced as checking every member: the choice between the bins
		// and a scan stays as it was. With the edges among the candidates
		// the whole way priced below the checks for a few thousand
		// candidates at 10M, and its interior, a dense union or
		// difference of most of the column, cost more than priced (g001:
		// 1.6 -> 4.1 ms, g030: 1.1 -> 3.5). rangeAmong then checks each
		// edge the cheaper way.
		whole += c.checkCost(&col.codes, n)
		restricted += piece(bm, n, w) + c.checkCost(&col.codes, min(n, c.piecesIn(bm, w)))
	}
	if col.unsetIn(lo, hi) { // the unset friends: one difference
		whole += c.andCost(card(c.ix.known), card(col.set))
		restricted += c.andCost(w, card(col.set))
	}
	whole += c.andCost(members, w)
	restricted += members / max(1, card(c.ix.known)) * w * costOr
	return scan, whole, restricted
}

// rangeAmong is rangeEval's whole way: the range's interior built whole,
// then intersected with the candidates w, and each edge bin's members
// checked the cheaper way (edgeWays).
func (c *evalCtx) rangeAmong(col *numColumn, cv cover, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	nw := card(w)
	among := func(edge *bin) bool {
		a, all := c.edgeWays(col, edge, nw)
		return a <= all
	}
	bm, checked := col.rangeAmong(cv, c.ix.known, w, among)
	return bm, "index", checked
}

// edgeWays estimates the two ways to find an edge bin's members in range
// among w candidates when the interior is built whole: check its members
// among w, or check them all. The first costs an intersection and checks
// only the members among w; building the whole range checked every edge
// member whatever the candidates (issue 14, g038 at 10M: 150,948 birthday
// edge members checked at some 41 ns each for 1.02M candidates, a tenth
// of the friends).
func (c *evalCtx) edgeWays(col *numColumn, b *bin, w float64) (among, all float64) {
	bm, n := b.members.bitmap(), float64(b.n)
	return c.pieceCost(bm, n, w) + c.checkCost(&col.codes, c.membersAmong(bm, n, w)), c.checkCost(&col.codes, n)
}

// membersAmong estimates how many of a piece's n members (held in bm) are
// among w candidates, taking the two as independent: n·w/known, at most the
// candidates in the piece's containers.
func (c *evalCtx) membersAmong(bm *roaring.Bitmap, n, w float64) float64 {
	return min(n, c.piecesIn(bm, w), n*w/max(1, card(c.ix.known)))
}

func rangeCost(c *evalCtx, col *numColumn, lo, hi int64, w float64) float64 {
	if lo > hi {
		return 0
	}
	return min(c.rangeCosts(col, lo, hi, col.rangePlan(lo, hi, c.ix.known), w))
}

func (l *numLeaf) direct(c *evalCtx) *roaring.Bitmap { return nil }
func (l *numLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return rangeEval(c, numCol(c, l.ref), l.lo, l.hi, w)
}
func (l *numLeaf) cost(c *evalCtx, w float64) float64 {
	return rangeCost(c, numCol(c, l.ref), l.lo, l.hi, w)
}
func (l *numLeaf) match(c *evalCtx, f uint32) bool {
	return numCol(c, l.ref).inRange(f, l.lo, l.hi)
}
func (l *numLeaf) estimate(c *evalCtx) float64 {
	return float64(numCol(c, l.ref).rangePlan(l.lo, l.hi, c.ix.known).est)
}

// Calendar days since a time: a key range on the time column once now is
// known.

// keys resolves the day range against now into a key range on the column.
func (l *daysLeaf) keys(c *evalCtx) (lo, hi int64) {
	if r, ok := c.ranges[l]; ok {
		return r[0], r[1]
	}
	// days in [l.lo, l.hi] <=> local date in [today-l.hi, today-l.lo]
	// <=> time in [midnight(today-l.hi), midnight(today-l.lo+1)).
	// A date at or beyond the first or last key's date bounds nothing, and
	// its midnight need not fit an int64.
	first, last := c.keyDays[0], c.keyDays[1]
	lo, hi = math.MinInt64, math.MaxInt64
	if l.hi != math.MaxInt64 {
		switch d := subDays(c.today, l.hi); {
		case d > last:
			lo, hi = 1, 0
		case d > first:
			lo = timeKey(midnight(d, c.loc))
		}
	}
	if l.lo != math.MinInt64 && lo <= hi {
		switch d := subDays(c.today, l.lo); { // the range's last date
		case d < first:
			lo, hi = 1, 0
		case d < last:
			hi = timeKey(midnight(d+1, c.loc)) - 1
		}
	}
	if c.ranges == nil {
		c.ranges = make(map[*daysLeaf][2]int64)
	}
	c.ranges[l] = [2]int64{lo, hi}
	return lo, hi
}

// The keys of time columns whose local dates are exact: a time.Time's
// calendar reaches from year -292277022399 to 292277026596, and a zone's
// offset may move a date by up to a day; two days' margin at each end.
// A key outside (a time.Time within two days of those ends) lies before
// or after every date, as far as days_since and followed_days tell.
const (
	minTimeKey = -9223372028715321600 + 2*86400        // -292277022399-01-01 UTC
	maxTimeKey = math.MaxInt64 - 62135596800 - 2*86400 // Unix of the last second
)

// keyDays returns the local dates (days from 1970-01-01) of minTimeKey and
// maxTimeKey: some ±1.07e14 days, where a date's midnight still fits an
// int64 key.
func keyDays(loc *time.Location) (first, last int64) {
	return civilDay(time.Unix(minTimeKey, 0), loc), civilDay(time.Unix(maxTimeKey, 0), loc)
}

// subDays returns today-days, saturating at the int64 limits (a bound of
// ±(2^63-1) days is a constant a user may write).
func subDays(today, days int64) int64 {
	d := today - days
	switch {
	case days < 0 && d < today:
		return math.MaxInt64
	case days > 0 && d > today:
		return math.MinInt64
	}
	return d
}

func (l *daysLeaf) direct(c *evalCtx) *roaring.Bitmap { return nil }
func (l *daysLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	lo, hi := l.keys(c)
	return rangeEval(c, numCol(c, l.ref), lo, hi, w)
}
func (l *daysLeaf) cost(c *evalCtx, w float64) float64 {
	lo, hi := l.keys(c)
	return rangeCost(c, numCol(c, l.ref), lo, hi, w)
}
func (l *daysLeaf) match(c *evalCtx, f uint32) bool {
	lo, hi := l.keys(c)
	return numCol(c, l.ref).inRange(f, lo, hi)
}
func (l *daysLeaf) estimate(c *evalCtx) float64 {
	lo, hi := l.keys(c)
	if lo > hi {
		return 0
	}
	return float64(numCol(c, l.ref).rangePlan(lo, hi, c.ix.known).est)
}

func (l *numLeaf) matchRecord(c *recordCtx) bool {
	k, ok := c.key(l.ref)
	return ok && k >= l.lo && k <= l.hi
}

func (l *daysLeaf) matchRecord(c *recordCtx) bool {
	lo, hi := l.keys(&c.evalCtx)
	k, ok := c.key(l.ref)
	return ok && k >= lo && k <= hi
}

// counter is a leaf that can count its friends among candidates without
// building the intersection: a top-level leaf, or an and's last operand.
// ok is false when the leaf's cheapest way is not one it can count.
type counter interface {
	countIn(c *evalCtx, w *roaring.Bitmap) (n uint64, ok bool)
}

var (
	_ counter = (*numLeaf)(nil)
	_ counter = (*daysLeaf)(nil)
)

func (l *numLeaf) countIn(c *evalCtx, w *roaring.Bitmap) (uint64, bool) {
	return rangeCount(c, numCol(c, l.ref), l.lo, l.hi, w)
}

func (l *daysLeaf) countIn(c *evalCtx, w *roaring.Bitmap) (uint64, bool) {
	lo, hi := l.keys(c)
	return rangeCount(c, numCol(c, l.ref), lo, hi, w)
}

// rangeCount counts the friends of w in [lo, hi] from the range's pieces
// (countCover) when that is cheaper than rangeEval's ways, which build the
// set: plain roaring's last operation only counts, and so does this one.
func rangeCount(c *evalCtx, col *numColumn, lo, hi int64, w *roaring.Bitmap) (uint64, bool) {
	if lo > hi {
		return 0, true
	}
	cv := col.rangePlan(lo, hi, c.ix.known)
	nw := card(w)
	inside, outside := c.countCosts(col, cv, nw)
	if min(inside, outside) > min(c.rangeCosts(col, lo, hi, cv, nw)) {
		return 0, false
	}
	among := func(edge *bin) bool {
		a, all := c.edgeCountWays(col, edge, nw)
		return a <= all
	}
	return col.countCover(cv, w, c.ix.known, outside < inside, among), true
}
