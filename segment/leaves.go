package segment

import (
	"math"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// leaf is a plan node the index answers directly. Each leaf knows several
// ways to compute its set within a set of candidates and picks the cheapest
// for the candidates at hand: intersect a ready-made bitmap, compute its
// set from the index (ORing postings or range bins, checking edge values),
// restrict that computation to the candidates, or check each candidate one
// by one. Costs are in rough nanoseconds.
type leaf interface {
	node
	// eval returns the leaf's friends among within as a new bitmap, the
	// path it took ("index" or "scan") and how many friends it checked
	// one by one.
	eval(c *evalCtx, within *roaring.Bitmap) (*roaring.Bitmap, string, int)
	// cost estimates eval's work for w candidates.
	cost(c *evalCtx, w float64) float64
	// estimate guesses the size of the leaf's set.
	estimate(c *evalCtx) float64
	// direct returns the leaf's set if the index holds it ready-made.
	direct(c *evalCtx) *roaring.Bitmap
	match(c *evalCtx, f uint32) bool
}

var empty = roaring.New() // never modified

func card(bm *roaring.Bitmap) float64 {
	if bm == nil {
		return 0
	}
	return float64(bm.GetCardinality())
}

func orEmpty(bm *roaring.Bitmap) *roaring.Bitmap {
	if bm == nil {
		return empty
	}
	return bm
}

// Unit costs in nanoseconds, measured on this project's machines with a
// universe of 10M IDs (see BenchmarkIntersect and BenchmarkFilter).
const (
	costContains    = 60   // checking one candidate with Bitmap.Contains
	costCall        = 17   // checking one candidate with a predicate call
	costCode        = 11   // checking one candidate's code in a typed loop
	costOr          = 1.8  // per element of sparse bitmaps ORed
	costOrContainer = 2000 // per dense container ORed
	costAndSparse   = 4    // per element, both sides, of two array containers intersected
	costAndMixed    = 2.2  // per element of the sparse side of an array-bitmap intersection
	costContainer   = 2900 // per pair of dense (bitmap) containers intersected
	costSetup       = 1000 // any bitmap operation
)

// chunks is the number of 65536-ID containers the friend IDs span.
func (c *evalCtx) chunks() float64 { return float64(c.ix.size)/65536 + 1 }

// orCost estimates ORing sets of the given sizes: a dense set costs per
// container, a sparse one per element.
func (c *evalCtx) orCost(sizes ...float64) float64 {
	chunks := c.chunks()
	cost := float64(costSetup)
	for _, n := range sizes {
		if n/chunks >= 4096 {
			cost += chunks * costOrContainer
		} else {
			cost += n * costOr
		}
	}
	return cost
}

// andCost estimates intersecting sets of a and b friends: dense containers
// (more than 4096 of 65536 IDs) intersect word by word, sparse ones merge.
func (c *evalCtx) andCost(a, b float64) float64 {
	chunks := c.chunks()
	da, db := a/chunks, b/chunks
	const dense = 4096
	switch {
	case da >= dense && db >= dense:
		return costSetup + chunks*costContainer
	case da >= dense:
		return costSetup + b*costAndMixed
	case db >= dense:
		return costSetup + a*costAndMixed
	}
	return costSetup + (a+b)*costAndSparse
}

// scanReady reports whether checking the candidates one by one beats
// intersecting them with a ready-made bitmap.
func (c *evalCtx) scanReady(bm, within *roaring.Bitmap) bool {
	return card(within)*costContains < c.andCost(card(bm), card(within))
}

// evalReady is eval for a leaf whose set the index holds ready-made.
func (c *evalCtx) evalReady(bm, within *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	if c.scanReady(bm, within) {
		return filter(within, bm.Contains), "scan", int(within.GetCardinality())
	}
	return roaring.And(bm, within), "index", 0
}

func (c *evalCtx) costReady(bm *roaring.Bitmap, w float64) float64 {
	return min(w*costContains, c.andCost(card(bm), w))
}

// orMany unions bitmaps. Roaring merges array containers pairwise and
// keeps the result an array up to 4096 values, which is quadratic when many
// sparse bitmaps meet in one container (an event's day bitmaps, range
// bins). With many sparse members, the dense parts are ORed word by word,
// written into one dense word array, and the sparse parts' members set
// into it bit by bit: linear in their values.
func orMany(parts []*roaring.Bitmap) *roaring.Bitmap { return orWithFew(parts, nil) }

// orWithFew is orMany with more members given as sorted ID slices (the
// postings of values few friends hold).
func orWithFew(parts []*roaring.Bitmap, few [][]uint32) *roaring.Bitmap {
	var fewN int
	for _, ids := range few {
		fewN += len(ids)
	}
	if fewN > 0 && fewN < 8192 { // few enough to become one small bitmap
		all := make([]uint32, 0, fewN)
		for _, ids := range few {
			all = append(all, ids...)
		}
		slices.Sort(all)
		bm := roaring.New()
		bm.AddMany(all)
		parts, few, fewN = append(slices.Clip(parts), bm), nil, 0
	}
	if fewN == 0 {
		switch len(parts) {
		case 0:
			return roaring.New()
		case 1:
			return parts[0].Clone()
		case 2:
			return roaring.Or(parts[0], parts[1])
		}
	}
	var dense, sparse []*roaring.Bitmap
	sparseN := float64(fewN)
	maxID := uint32(0)
	for _, ids := range few {
		if len(ids) > 0 {
			maxID = max(maxID, ids[len(ids)-1])
		}
	}
	for _, p := range parts {
		if p.IsEmpty() {
			continue
		}
		maxID = max(maxID, p.Maximum())
		containers := float64(p.Maximum()>>16-p.Minimum()>>16) + 1
		if card(p)/containers >= 2048 {
			dense = append(dense, p)
		} else {
			sparse = append(sparse, p)
			sparseN += card(p)
		}
	}
	if fewN == 0 && (len(sparse) <= 1 || sparseN < 8192) {
		return roaring.FastOr(parts...)
	}
	words := make([]uint64, maxID/64+1)
	if len(dense) > 0 {
		d := roaring.FastOr(dense...)
		if n := d.DenseSize(); n > uint64(len(words)) {
			words = append(words, make([]uint64, n-uint64(len(words)))...)
		}
		d.WriteDenseTo(words) // first, into zeros: it copies bitmap containers
	}
	set := func(ids []uint32) {
		for _, f := range ids {
			words[f>>6] |= 1 << (f & 63)
		}
	}
	for _, p := range sparse {
		each(p, set)
	}
	for _, ids := range few {
		set(ids)
	}
	return roaring.FromDense(words, false)
}

// Ready-made sets.

func (l *tagLeaf) direct(c *evalCtx) *roaring.Bitmap { return orEmpty(c.ix.tags[l.name]) }
func (l *tagLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(l.direct(c), w)
}
func (l *tagLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(l.direct(c), w) }
func (l *tagLeaf) estimate(c *evalCtx) float64        { return card(l.direct(c)) }
func (l *tagLeaf) match(c *evalCtx, f uint32) bool    { return l.direct(c).Contains(f) }

func (l *followingLeaf) direct(c *evalCtx) *roaring.Bitmap { return c.ix.following }
func (l *followingLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(c.ix.following, w)
}
func (l *followingLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(c.ix.following, w) }
func (l *followingLeaf) estimate(c *evalCtx) float64        { return card(c.ix.following) }
func (l *followingLeaf) match(c *evalCtx, f uint32) bool    { return c.ix.following.Contains(f) }

// blocked: friends who followed once and do not follow now — those with
// a follow time who are not following. Someone known only through a login
// or a conversion never followed, and is not blocked.
func (l *blockedLeaf) direct(c *evalCtx) *roaring.Bitmap { return nil }
func (l *blockedLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	ever := c.ix.followedAt.set
	if card(w)*2*costContains < c.andCost(card(ever), card(w))+c.andCost(card(c.ix.following), card(w)) {
		return filter(w, func(f uint32) bool { return l.match(c, f) }), "scan", int(w.GetCardinality())
	}
	out := roaring.And(w, ever)
	out.AndNot(c.ix.following)
	return out, "index", 0
}
func (l *blockedLeaf) cost(c *evalCtx, w float64) float64 {
	return min(w*2*costContains, c.andCost(card(c.ix.followedAt.set), w)+c.andCost(card(c.ix.following), w))
}
func (l *blockedLeaf) estimate(c *evalCtx) float64 {
	return max(0, card(c.ix.followedAt.set)-card(c.ix.following))
}
func (l *blockedLeaf) match(c *evalCtx, f uint32) bool {
	return c.ix.followedAt.set.Contains(f) && !c.ix.following.Contains(f)
}

// A bool field: vip is the friends set to true, vip == false those set to
// false; friends without a value are in neither.
func (l *boolLeaf) direct(c *evalCtx) *roaring.Bitmap {
	if l.val {
		return c.ix.fields[l.field.id].bl.yes
	}
	return c.ix.fields[l.field.id].bl.no
}
func (l *boolLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(l.direct(c), w)
}
func (l *boolLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(l.direct(c), w) }
func (l *boolLeaf) estimate(c *evalCtx) float64        { return card(l.direct(c)) }
func (l *boolLeaf) match(c *evalCtx, f uint32) bool    { return l.direct(c).Contains(f) }

func (l *scenarioLeaf) direct(c *evalCtx) *roaring.Bitmap {
	if sc := c.ix.scenarios[l.name]; sc != nil {
		return sc.members
	}
	return empty
}
func (l *scenarioLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(l.direct(c), w)
}
func (l *scenarioLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(l.direct(c), w) }
func (l *scenarioLeaf) estimate(c *evalCtx) float64        { return card(l.direct(c)) }
func (l *scenarioLeaf) match(c *evalCtx, f uint32) bool    { return l.direct(c).Contains(f) }

func (l *hasLeaf) direct(c *evalCtx) *roaring.Bitmap {
	fc := c.ix.fields[l.field.id]
	switch {
	case fc.str != nil:
		return fc.str.set
	case fc.num != nil:
		return fc.num.set
	}
	return fc.bl.set
}
func (l *hasLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(l.direct(c), w)
}
func (l *hasLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(l.direct(c), w) }
func (l *hasLeaf) estimate(c *evalCtx) float64        { return card(l.direct(c)) }
func (l *hasLeaf) match(c *evalCtx, f uint32) bool    { return l.direct(c).Contains(f) }

// Scenario steps: one bitmap per step; non-members read -1.

func (l *stepLeaf) direct(c *evalCtx) *roaring.Bitmap { return nil }

func (l *stepLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	sc := c.ix.scenarios[l.name]
	if card(w)*l.checkCost(c) < l.indexCost(c)+card(w)*costAndMixed {
		return filter(w, func(f uint32) bool { return l.match(c, f) }), "scan", int(w.GetCardinality())
	}
	var parts []*roaring.Bitmap
	if l.lo <= -1 && -1 <= l.hi {
		if sc == nil {
			return w.Clone(), "index", 0
		}
		parts = append(parts, roaring.AndNot(w, sc.members))
	}
	if sc != nil {
		for s, bm := range sc.steps {
			if s >= l.lo && s <= l.hi {
				parts = append(parts, roaring.And(bm, w))
			}
		}
	}
	return orMany(parts), "index", 0
}

func (l *stepLeaf) checkCost(c *evalCtx) float64 {
	if sc := c.ix.scenarios[l.name]; sc != nil {
		return costContains * float64(1+len(sc.steps))
	}
	return costContains
}

func (l *stepLeaf) indexCost(c *evalCtx) float64 {
	n := 1.0
	if sc := c.ix.scenarios[l.name]; sc != nil {
		n += float64(len(sc.steps))
	}
	return n * costSetup * 4
}

func (l *stepLeaf) cost(c *evalCtx, w float64) float64 {
	return min(w*l.checkCost(c), l.indexCost(c)+w*costAndMixed)
}

func (l *stepLeaf) match(c *evalCtx, f uint32) bool {
	s := c.ix.scenarios[l.name].step(f)
	return s >= l.lo && s <= l.hi
}

func (l *stepLeaf) estimate(c *evalCtx) float64 {
	if sc := c.ix.scenarios[l.name]; sc != nil && l.lo >= 0 {
		return card(sc.members) / 2
	}
	return card(c.ix.known) / 2
}

// String predicates: decided once per distinct value, then the postings
// of the accepted values are ORed; or each candidate's value is checked.
// A friend without a value satisfies none.

func (l *strLeaf) column(c *evalCtx) *strColumn {
	if l.ref.kind == strVariant {
		return c.ix.variants[l.ref.name] // nil: nobody is assigned yet
	}
	return c.ix.fields[l.ref.field.id].str
}

// direct returns the posting of an equality, ready-made.
func (l *strLeaf) direct(c *evalCtx) *roaring.Bitmap {
	col := l.column(c)
	if l.op != strIn || len(l.values) != 1 {
		return nil
	}
	if col == nil {
		return empty
	}
	if id, ok := col.ids[l.values[0]]; ok {
		return c.postingBitmap(&col.postings[id])
	}
	return empty
}

// perValue is the cost of deciding the predicate for one value.
func (l *strLeaf) perValue() float64 {
	switch l.op {
	case strIn:
		return 15
	case strMatches:
		return 300
	case strContains:
		return 40
	}
	return 10
}

// stringCosts estimates the three ways for w candidates: test each
// candidate's value directly; decide every distinct value once and look up
// each candidate's code; or decide, OR the accepted postings and intersect.
func (l *strLeaf) stringCosts(c *evalCtx, col *strColumn, w float64) (direct, table, index float64) {
	decide := float64(len(col.vals)) * l.perValue()
	if l.op == strIn {
		decide = float64(len(l.values)) * 50
	}
	est := l.estimate(c)
	direct = w * (costCall + l.perValue())
	table = decide + w*costCode
	var sizes []float64
	if l.op == strIn {
		for _, v := range l.values {
			if id, ok := col.ids[v]; ok {
				sizes = append(sizes, float64(col.counts[id]))
			}
		}
	} else {
		sizes = []float64{est} // unknown split: as if one set
	}
	index = decide + c.orCost(sizes...) + c.andCost(est, w)
	return direct, table, index
}

func (l *strLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	col := l.column(c)
	if col == nil { // nobody has a value
		return roaring.New(), "index", 0
	}
	if bm := l.direct(c); bm != nil {
		return c.evalReady(bm, w)
	}
	nw := card(w)
	direct, table, index := l.stringCosts(c, col, nw)
	if direct <= table && direct <= index {
		return filter(w, func(f uint32) bool { return l.matchIn(col, f) }), "scan", int(nw)
	}
	ids := col.matching(l)
	if table <= index {
		ok := make([]bool, len(col.vals))
		for _, id := range ids {
			ok[id] = true
		}
		return col.codes.filterTable(w, ok), "scan", int(nw)
	}
	return roaring.And(col.union(ids), w), "index", 0
}

func (l *strLeaf) cost(c *evalCtx, w float64) float64 {
	col := l.column(c)
	if col == nil {
		return 0
	}
	if bm := l.direct(c); bm != nil {
		return c.costReady(bm, w)
	}
	return min(l.stringCosts(c, col, w))
}

func (l *strLeaf) match(c *evalCtx, f uint32) bool {
	col := l.column(c)
	return col != nil && l.matchIn(col, f)
}

func (l *strLeaf) matchIn(col *strColumn, f uint32) bool {
	v, ok := col.lookup(f)
	return ok && l.accept(v)
}

func (l *strLeaf) estimate(c *evalCtx) float64 {
	col := l.column(c)
	if col == nil {
		return 0
	}
	if l.op == strIn {
		var n int
		for _, v := range l.values {
			if id, ok := col.ids[v]; ok {
				n += col.counts[id]
			}
		}
		return float64(n)
	}
	return card(col.set) / 4 // only friends with a value can match
}

// Numeric ranges over binned columns.

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
		bm, checked := col.rangeBitmap(lo, hi, c.ix.known)
		bm.And(w)
		return bm, "index", checked
	}
	// Restricted: intersect each piece with the candidates first.
	parts := make([]*roaring.Bitmap, 0, len(cv.in)+len(cv.partial)+1)
	if col.unsetIn(lo, hi) {
		parts = append(parts, roaring.AndNot(w, col.set))
	}
	for _, g := range cv.in {
		parts = append(parts, roaring.And(g.members, w))
	}
	for _, cg := range cv.cut {
		for _, b := range cg.in {
			parts = append(parts, roaring.And(b.members, w))
		}
	}
	checked := 0
	for _, b := range cv.partial {
		cand := roaring.And(b.members, w)
		checked += int(cand.GetCardinality())
		parts = append(parts, col.filterRange(cand, lo, hi))
	}
	return orMany(parts), "index", checked
}

// rangeCosts estimates rangeEval's three ways for w candidates.
func (c *evalCtx) rangeCosts(col *numColumn, lo, hi int64, cv cover, w float64) (scan, whole, restricted float64) {
	scan = costSetup + w*costCode
	members := float64(cv.est)
	// The interior, as rangeBitmap builds it.
	var inSizes []float64
	for _, g := range cv.in {
		inSizes = append(inSizes, float64(g.n))
		restricted += c.andCost(float64(g.n), w)
	}
	cutCost := 0.0
	for _, cg := range cv.cut {
		small := float64(min(cg.inN, cg.outN))
		cutCost += c.orCost(small) + c.andCost(float64(cg.g.n), small)
		for _, b := range cg.in {
			restricted += c.andCost(float64(b.n), w)
		}
	}
	if cv.inN > cv.outN {
		var outSizes []float64
		for _, g := range cv.out {
			outSizes = append(outSizes, float64(g.n))
		}
		for _, cg := range cv.cut {
			outSizes = append(outSizes, float64(cg.outN))
		}
		whole = c.orCost(outSizes...) + c.andCost(float64(col.total), float64(cv.outN))
	} else {
		whole = c.orCost(inSizes...) + cutCost
	}
	for _, b := range cv.partial {
		n := float64(b.n)
		whole += n * costCode
		restricted += c.andCost(n, w) + min(n, w)*costCode
	}
	if col.unsetIn(lo, hi) { // the unset friends: one difference
		whole += c.andCost(card(c.ix.known), card(col.set))
		restricted += c.andCost(w, card(col.set))
	}
	whole += c.andCost(members, w)
	restricted += members / max(1, card(c.ix.known)) * w * costOr
	return scan, whole, restricted
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
	const far = 100_000_000 // days; beyond every representable key
	lo, hi = math.MinInt64, math.MaxInt64
	if l.hi != math.MaxInt64 {
		if d := c.today - l.hi; d > -far {
			if d > far {
				lo, hi = 1, 0
			} else {
				lo = timeKey(midnight(d, c.loc))
			}
		}
	}
	if l.lo != math.MinInt64 && lo <= hi {
		if d := c.today - l.lo + 1; d < far {
			if d < -far {
				lo, hi = 1, 0
			} else {
				hi = timeKey(midnight(d, c.loc)) - 1
			}
		}
	}
	if c.ranges == nil {
		c.ranges = make(map[*daysLeaf][2]int64)
	}
	c.ranges[l] = [2]int64{lo, hi}
	return lo, hi
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

// Events counted in a window of calendar days.

func (l *eventLeaf) window(c *evalCtx) (p *eventPostings, days []int64) {
	p = c.ix.events[l.key]
	if p == nil {
		return nil, nil
	}
	if l.days == 0 {
		return p, p.order
	}
	return p, p.window(c.today-l.days+1, c.today)
}

// anyEvent: the leaf asks for at least one event (not a count range).
func (l *eventLeaf) anyEvent() bool { return l.lo == 1 && l.hi == math.MaxInt64 }

// direct offers the leaf's set when it is ready: ever, or a window union
// that an earlier evaluation cached. It never computes one, so that the
// planner can still prefer checking a few candidates.
func (l *eventLeaf) direct(c *evalCtx) *roaring.Bitmap {
	if !l.anyEvent() {
		return nil
	}
	p := c.ix.events[l.key]
	switch {
	case p == nil:
		return empty
	case l.days == 0:
		return p.ever
	}
	return p.cachedWindow(l.days, c.today)
}

func (l *eventLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	if bm := l.direct(c); bm != nil {
		return c.evalReady(bm, w)
	}
	p, days := l.window(c)
	nw := card(w)
	if p == nil {
		if l.lo <= 0 && 0 <= l.hi {
			return w.Clone(), "index", 0
		}
		return roaring.New(), "index", 0
	}
	if nw*l.checkCost(p, days) < l.indexCost(c, p, days)+c.andCost(card(p.ever), nw) {
		return filter(w, func(f uint32) bool { return l.matchIn(p, days, f) }), "scan", int(nw)
	}
	// The friends with at least one event in the window, among w.
	var active *roaring.Bitmap
	if l.days == 0 {
		active = roaring.And(p.ever, w)
	} else {
		active = roaring.And(p.windowUnion(l.days, c.today), w)
	}
	if l.anyEvent() {
		return active, "index", 0
	}
	checked := int(active.GetCardinality())
	out := filter(active, func(f uint32) bool {
		n := p.count(f, days)
		return n >= l.lo && n <= l.hi
	})
	if l.lo <= 0 && 0 <= l.hi { // a count of zero qualifies
		out.Or(roaring.AndNot(w, active))
	}
	return out, "index", checked
}

// checkCost is the cost of deciding one candidate: a test of the ever
// bitmap, and for those who ever had the event, a walk over the window.
func (l *eventLeaf) checkCost(p *eventPostings, days []int64) float64 {
	share := card(p.ever) / max(1, float64(p.ever.Maximum())+1)
	return costContains + share*float64(len(days))*costContains/2
}

// indexCost is the cost of the friends active in the window: ORing the
// day bitmaps, then for a count range checking each active friend.
func (l *eventLeaf) indexCost(c *evalCtx, p *eventPostings, days []int64) float64 {
	var n float64
	sizes := make([]float64, len(days))
	for i, d := range days {
		sizes[i] = card(p.days[d])
		n += sizes[i]
	}
	cost := c.orCost(sizes...)
	if !l.anyEvent() {
		cost += n * float64(len(days)) * costContains / 2
	}
	return cost
}

func (l *eventLeaf) cost(c *evalCtx, w float64) float64 {
	if bm := l.direct(c); bm != nil {
		return c.costReady(bm, w)
	}
	p, days := l.window(c)
	if p == nil {
		return 0
	}
	return min(w*l.checkCost(p, days), l.indexCost(c, p, days)+c.andCost(card(p.ever), w))
}

func (l *eventLeaf) match(c *evalCtx, f uint32) bool {
	p, days := l.window(c)
	return l.matchIn(p, days, f)
}

func (l *eventLeaf) matchIn(p *eventPostings, days []int64, f uint32) bool {
	if p == nil || !p.ever.Contains(f) {
		return l.lo <= 0 && 0 <= l.hi
	}
	if l.anyEvent() {
		if l.days == 0 {
			return true
		}
		for i := len(days) - 1; i >= 0; i-- { // recent days first
			if p.days[days[i]].Contains(f) {
				return true
			}
		}
		return false
	}
	n := p.count(f, days)
	return n >= l.lo && n <= l.hi
}

func (l *eventLeaf) estimate(c *evalCtx) float64 {
	p := c.ix.events[l.key]
	if p == nil {
		if l.lo <= 0 {
			return card(c.ix.known)
		}
		return 0
	}
	if l.lo <= 0 {
		return card(c.ix.known) - card(p.ever)/2
	}
	return card(p.ever) / 2
}
