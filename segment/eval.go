package segment

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
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
func (s *Segment) Match(ix *Index, f uint32, now time.Time) (bool, error) {
	if ix.schema != s.schema {
		return false, ErrSchemaMismatch
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	c := s.newCtx(ix, now, nil)
	return c.universe.Contains(f) && c.match(s.root, f), nil
}

type evalCtx struct {
	ix       *Index
	now      time.Time
	today    int64
	universe *roaring.Bitmap
	ranges   map[*daysLeaf][2]int64 // days leaves resolved against now
	trace    *Explanation           // the node being explained; nil unless explaining
	parents  []*Explanation
}

func (s *Segment) newCtx(ix *Index, now time.Time, trace *Explanation) *evalCtx {
	c := &evalCtx{ix: ix, now: now, today: civilDay(now, ix.schema.loc), universe: ix.following, trace: trace}
	if s.wide {
		c.universe = ix.known
	}
	return c
}

// count is eval followed by a cardinality, without materializing the last
// intersection of a top-level and.
func (c *evalCtx) count(n node) uint64 {
	if a, ok := n.(*andNode); ok && c.trace == nil {
		kids := c.order(a.kids)
		last := kids[len(kids)-1]
		if l, ok := last.(leaf); ok {
			acc := c.evalAnd(kids[:len(kids)-1], c.universe)
			if acc.IsEmpty() {
				return 0
			}
			if bm := l.direct(c); bm != nil && !c.preferScan(l, acc) {
				return acc.AndCardinality(bm)
			}
			return c.eval(last, acc).GetCardinality()
		}
	}
	return c.eval(n, c.universe).GetCardinality()
}

// eval returns n ∩ within as a new bitmap.
func (c *evalCtx) eval(n node, within *roaring.Bitmap) *roaring.Bitmap {
	tr := c.enter(n, within)
	var out *roaring.Bitmap
	switch n := n.(type) {
	case *andNode:
		out = c.evalAnd(c.order(n.kids), within)
	case *orNode:
		parts := make([]*roaring.Bitmap, len(n.kids))
		for i, k := range n.kids {
			parts[i] = c.eval(k, within)
		}
		out = roaring.FastOr(parts...)
	case *notNode:
		out = roaring.AndNot(within, c.eval(n.kid, within))
	case *savedNode:
		out = c.eval(n.kid, within)
	case *constNode:
		if n.val {
			out = within.Clone()
		} else {
			out = roaring.New()
		}
	case leaf:
		if c.preferScan(n, within) {
			out = c.scan(n, within)
			tr.setPath("scan", int(within.GetCardinality()))
		} else {
			bm, checked := n.bitmap(c)
			out = roaring.And(bm, within)
			tr.setPath("index", checked)
		}
	}
	c.leave(tr, out)
	return out
}

// evalAnd intersects kids, in the given order, within within. Each kid is
// evaluated only among the survivors of the ones before it, so a selective
// first operand lets later ones check a few candidates instead of
// computing their whole set; once nothing survives, the rest is skipped.
func (c *evalCtx) evalAnd(kids []node, within *roaring.Bitmap) *roaring.Bitmap {
	acc := within
	for i, k := range kids {
		if acc.IsEmpty() {
			for _, rest := range kids[i:] {
				c.skipped(rest)
			}
			break
		}
		acc = c.eval(k, acc)
	}
	if acc == within {
		acc = within.Clone()
	}
	return acc
}

// order sorts the operands of an and by their estimated size, smallest
// first; negations go last, as they are computed within the survivors.
func (c *evalCtx) order(kids []node) []node {
	type est struct {
		n    node
		size float64
	}
	es := make([]est, len(kids))
	for i, k := range kids {
		size := c.estimate(k)
		if _, ok := k.(*notNode); ok {
			size = math.MaxFloat64 / 2
		}
		es[i] = est{k, size}
	}
	slices.SortStableFunc(es, func(a, b est) int { return cmp.Compare(a.size, b.size) })
	out := make([]node, len(kids))
	for i, e := range es {
		out[i] = e.n
	}
	return out
}

// estimate guesses how many friends n holds, cheaply.
func (c *evalCtx) estimate(n node) float64 {
	switch n := n.(type) {
	case *andNode:
		m := math.MaxFloat64
		for _, k := range n.kids {
			m = min(m, c.estimate(k))
		}
		return m
	case *orNode:
		var s float64
		for _, k := range n.kids {
			s += c.estimate(k)
		}
		return s
	case *notNode:
		return max(0, float64(c.universe.GetCardinality())-c.estimate(n.kid))
	case *savedNode:
		return c.estimate(n.kid)
	case *constNode:
		if n.val {
			return float64(c.universe.GetCardinality())
		}
		return 0
	case leaf:
		return n.estimate(c)
	}
	return 0
}

// preferScan decides between computing a leaf's set from the index and
// checking the candidates in within one by one.
func (c *evalCtx) preferScan(l leaf, within *roaring.Bitmap) bool {
	work, perCheck := l.cost(c)
	return float64(within.GetCardinality())*perCheck < work
}

func (c *evalCtx) scan(l leaf, within *roaring.Bitmap) *roaring.Bitmap {
	out := roaring.New()
	var hits []uint32
	buf := make([]uint32, 1024)
	it := within.ManyIterator()
	for {
		n := it.NextMany(buf)
		if n == 0 {
			break
		}
		for _, f := range buf[:n] {
			if l.match(c, f) {
				hits = append(hits, f)
			}
		}
	}
	out.AddMany(hits)
	return out
}

func (c *evalCtx) match(n node, f uint32) bool {
	switch n := n.(type) {
	case *andNode:
		for _, k := range n.kids {
			if !c.match(k, f) {
				return false
			}
		}
		return true
	case *orNode:
		for _, k := range n.kids {
			if c.match(k, f) {
				return true
			}
		}
		return false
	case *notNode:
		return !c.match(n.kid, f)
	case *savedNode:
		return c.match(n.kid, f)
	case *constNode:
		return n.val
	case leaf:
		return n.match(c, f)
	}
	return false
}

// leaf is a plan node the index answers directly.
type leaf interface {
	node
	// bitmap returns the known friends satisfying the leaf, which the
	// caller must not modify, and how many friends it checked one by one.
	bitmap(c *evalCtx) (*roaring.Bitmap, int)
	// direct returns the leaf's bitmap if the index holds it ready-made
	// (no computation), else nil.
	direct(c *evalCtx) *roaring.Bitmap
	match(c *evalCtx, f uint32) bool
	estimate(c *evalCtx) float64
	// cost returns the work of the indexed path and of checking one
	// candidate, in the same rough unit (about a nanosecond).
	cost(c *evalCtx) (work, perCheck float64)
}

var empty = roaring.New() // never modified

func card(bm *roaring.Bitmap) float64 {
	if bm == nil {
		return 0
	}
	return float64(bm.GetCardinality())
}

// A ready-made bitmap costs an intersection, roughly proportional to its
// containers; the fixed 2000 keeps tiny candidate sets on the scan path.
func readyCost(bm *roaring.Bitmap) (float64, float64) { return 2000 + card(bm)/16, 25 }

func orEmpty(bm *roaring.Bitmap) *roaring.Bitmap {
	if bm == nil {
		return empty
	}
	return bm
}

// tag

func (l *tagLeaf) direct(c *evalCtx) *roaring.Bitmap              { return orEmpty(c.ix.tags[l.name]) }
func (l *tagLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int)       { return l.direct(c), 0 }
func (l *tagLeaf) match(c *evalCtx, f uint32) bool                { return l.direct(c).Contains(f) }
func (l *tagLeaf) estimate(c *evalCtx) float64                    { return card(c.ix.tags[l.name]) }
func (l *tagLeaf) cost(c *evalCtx) (float64, float64)             { return readyCost(c.ix.tags[l.name]) }
func (l *followingLeaf) direct(c *evalCtx) *roaring.Bitmap        { return c.ix.following }
func (l *followingLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int) { return c.ix.following, 0 }
func (l *followingLeaf) match(c *evalCtx, f uint32) bool          { return c.ix.following.Contains(f) }
func (l *followingLeaf) estimate(c *evalCtx) float64              { return card(c.ix.following) }
func (l *followingLeaf) cost(c *evalCtx) (float64, float64)       { return readyCost(c.ix.following) }
func (l *blockedLeaf) direct(c *evalCtx) *roaring.Bitmap          { return nil }
func (l *blockedLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int) {
	return roaring.AndNot(c.ix.known, c.ix.following), 0
}
func (l *blockedLeaf) match(c *evalCtx, f uint32) bool {
	return c.ix.known.Contains(f) && !c.ix.following.Contains(f)
}
func (l *blockedLeaf) estimate(c *evalCtx) float64               { return card(c.ix.known) - card(c.ix.following) }
func (l *blockedLeaf) cost(c *evalCtx) (float64, float64)        { return 2000 + card(c.ix.known)/16, 40 }
func (l *boolLeaf) direct(c *evalCtx) *roaring.Bitmap            { return c.ix.fields[l.field.id].bl.yes }
func (l *boolLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int)     { return l.direct(c), 0 }
func (l *boolLeaf) match(c *evalCtx, f uint32) bool              { return l.direct(c).Contains(f) }
func (l *boolLeaf) estimate(c *evalCtx) float64                  { return card(l.direct(c)) }
func (l *boolLeaf) cost(c *evalCtx) (float64, float64)           { return readyCost(l.direct(c)) }
func (l *scenarioLeaf) direct(c *evalCtx) *roaring.Bitmap        { return l.members(c) }
func (l *scenarioLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int) { return l.members(c), 0 }
func (l *scenarioLeaf) match(c *evalCtx, f uint32) bool          { return l.members(c).Contains(f) }
func (l *scenarioLeaf) estimate(c *evalCtx) float64              { return card(l.members(c)) }
func (l *scenarioLeaf) cost(c *evalCtx) (float64, float64)       { return readyCost(l.members(c)) }
func (l *hasLeaf) direct(c *evalCtx) *roaring.Bitmap             { return l.set(c) }
func (l *hasLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int)      { return l.set(c), 0 }
func (l *hasLeaf) match(c *evalCtx, f uint32) bool               { return l.set(c).Contains(f) }
func (l *hasLeaf) estimate(c *evalCtx) float64                   { return card(l.set(c)) }
func (l *hasLeaf) cost(c *evalCtx) (float64, float64)            { return readyCost(l.set(c)) }

func (l *scenarioLeaf) members(c *evalCtx) *roaring.Bitmap {
	if sc := c.ix.scenarios[l.name]; sc != nil {
		return sc.members
	}
	return empty
}

func (l *hasLeaf) set(c *evalCtx) *roaring.Bitmap {
	fc := c.ix.fields[l.field.id]
	switch {
	case fc.str != nil:
		return fc.str.set
	case fc.num != nil:
		return fc.num.set
	}
	return fc.bl.set
}

// scenario steps

func (l *stepLeaf) direct(c *evalCtx) *roaring.Bitmap { return nil }

func (l *stepLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int) {
	sc := c.ix.scenarios[l.name]
	var parts []*roaring.Bitmap
	if l.lo <= -1 && -1 <= l.hi { // non-members read -1
		if sc == nil {
			return c.ix.known, 0
		}
		parts = append(parts, roaring.AndNot(c.ix.known, sc.members))
	}
	if sc != nil {
		for s, bm := range sc.steps {
			if s >= l.lo && s <= l.hi {
				parts = append(parts, bm)
			}
		}
	}
	return roaring.FastOr(parts...), 0
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

func (l *stepLeaf) cost(c *evalCtx) (float64, float64) {
	steps := 1.0
	if sc := c.ix.scenarios[l.name]; sc != nil {
		steps += float64(len(sc.steps))
	}
	return 2000 + l.estimate(c)/16, 25 * steps
}

// string predicates

func (l *strLeaf) column(c *evalCtx) *strColumn {
	if l.ref.kind == strVariant {
		return c.ix.variants[l.ref.name] // nil: nobody assigned yet
	}
	return c.ix.fields[l.ref.field.id].str
}

func (l *strLeaf) direct(c *evalCtx) *roaring.Bitmap {
	col := l.column(c)
	if col == nil || l.op != strIn || len(l.values) != 1 {
		return nil
	}
	if id, ok := col.ids[l.values[0]]; ok {
		return col.postings[id]
	}
	return empty
}

func (l *strLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int) {
	col := l.column(c)
	if col == nil { // every friend reads ""
		if l.accept("") {
			return c.ix.known, 0
		}
		return empty, 0
	}
	ids := col.matching(l)
	switch len(ids) {
	case 0:
		return empty, 0
	case 1:
		return col.postings[ids[0]], 0
	}
	parts := make([]*roaring.Bitmap, len(ids))
	for i, id := range ids {
		parts[i] = col.postings[id]
	}
	return roaring.FastOr(parts...), 0
}

func (l *strLeaf) match(c *evalCtx, f uint32) bool {
	col := l.column(c)
	if col == nil {
		return l.accept("")
	}
	return l.accept(col.get(f))
}

func (l *strLeaf) estimate(c *evalCtx) float64 {
	col := l.column(c)
	if col == nil {
		if l.accept("") {
			return card(c.ix.known)
		}
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
	return card(c.ix.known) / 4
}

func (l *strLeaf) cost(c *evalCtx) (float64, float64) {
	col := l.column(c)
	if col == nil {
		return 0, 0
	}
	per := 10.0
	switch l.op {
	case strIn:
		return 2000 + l.estimate(c)/16, per
	case strMatches:
		per = 300
	case strContains:
		per = 40
	}
	return 2000 + float64(len(col.vals))*per + l.estimate(c)/16, per
}

// numeric ranges

func (l *numLeaf) column(c *evalCtx) *numColumn { return numCol(c, l.ref) }

func numCol(c *evalCtx, r numRef) *numColumn {
	switch r.kind {
	case numScore:
		return c.ix.scores[r.id]
	case numFollowedAt:
		return c.ix.followedAt
	}
	return c.ix.fields[r.id].num
}

func (l *numLeaf) direct(c *evalCtx) *roaring.Bitmap { return nil }

func (l *numLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int) {
	return l.column(c).rangeBitmap(l.lo, l.hi)
}

func (l *numLeaf) match(c *evalCtx, f uint32) bool {
	k := l.column(c).get(f)
	return k >= l.lo && k <= l.hi
}

func (l *numLeaf) estimate(c *evalCtx) float64 {
	_, _, est := l.column(c).rangePlan(l.lo, l.hi)
	return float64(est)
}

func (l *numLeaf) cost(c *evalCtx) (float64, float64) { return rangeCost(l.column(c), l.lo, l.hi) }

func rangeCost(col *numColumn, lo, hi int64) (float64, float64) {
	full, partial, _ := col.rangePlan(lo, hi)
	work := 2000.0
	for _, b := range full {
		work += float64(b.n) / 16
	}
	for _, b := range partial {
		work += float64(b.n) * 4
	}
	return work, 6
}

// calendar days since a time

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
				lo = timeKey(midnight(d, c.ix.schema.loc))
			}
		}
	}
	if l.lo != math.MinInt64 && lo <= hi {
		if d := c.today - l.lo + 1; d < far {
			if d < -far {
				lo, hi = 1, 0
			} else {
				hi = timeKey(midnight(d, c.ix.schema.loc)) - 1
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

func (l *daysLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int) {
	lo, hi := l.keys(c)
	if lo > hi {
		return empty, 0
	}
	return numCol(c, l.ref).rangeBitmap(lo, hi)
}

func (l *daysLeaf) match(c *evalCtx, f uint32) bool {
	lo, hi := l.keys(c)
	k := numCol(c, l.ref).get(f)
	return k >= lo && k <= hi
}

func (l *daysLeaf) estimate(c *evalCtx) float64 {
	lo, hi := l.keys(c)
	if lo > hi {
		return 0
	}
	_, _, est := numCol(c, l.ref).rangePlan(lo, hi)
	return float64(est)
}

func (l *daysLeaf) cost(c *evalCtx) (float64, float64) {
	lo, hi := l.keys(c)
	if lo > hi {
		return 0, 0
	}
	return rangeCost(numCol(c, l.ref), lo, hi)
}

// events in a window

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

func (l *eventLeaf) anyEvent() bool { return l.lo == 1 && l.hi == math.MaxInt64 }

func (l *eventLeaf) direct(c *evalCtx) *roaring.Bitmap {
	if p := c.ix.events[l.key]; l.days == 0 && l.anyEvent() {
		if p == nil {
			return empty
		}
		return p.ever
	}
	return nil
}

func (l *eventLeaf) bitmap(c *evalCtx) (*roaring.Bitmap, int) {
	p, days := l.window(c)
	var active *roaring.Bitmap // friends with at least one event in the window
	switch {
	case p == nil:
		active = empty
	case l.days == 0:
		active = p.ever
	default:
		parts := make([]*roaring.Bitmap, len(days))
		for i, d := range days {
			parts[i] = p.days[d]
		}
		active = roaring.FastOr(parts...)
	}
	if l.anyEvent() {
		return active, 0
	}
	out := roaring.New()
	var hits []uint32
	checked := 0
	if l.hi >= 1 {
		active.Iterate(func(f uint32) bool {
			checked++
			if n := p.count(f, days); n >= l.lo && n <= l.hi {
				hits = append(hits, f)
			}
			return true
		})
	}
	out.AddMany(hits)
	if l.lo <= 0 && 0 <= l.hi { // a count of zero qualifies
		out.Or(roaring.AndNot(c.ix.known, active))
	}
	return out, checked
}

func (l *eventLeaf) match(c *evalCtx, f uint32) bool {
	p, days := l.window(c)
	if p == nil || !p.ever.Contains(f) {
		return l.lo <= 0 && 0 <= l.hi
	}
	if l.anyEvent() {
		if l.days == 0 {
			return true
		}
		for _, d := range days {
			if p.days[d].Contains(f) {
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

func (l *eventLeaf) cost(c *evalCtx) (float64, float64) {
	p, days := l.window(c)
	if p == nil {
		return 0, 0
	}
	nd := float64(len(days))
	work := 2000 + card(p.ever)/16*max(1, nd)/4
	if !l.anyEvent() {
		work += card(p.ever) * 20 * nd / 4
	}
	return work, 20 * max(1, nd)
}
