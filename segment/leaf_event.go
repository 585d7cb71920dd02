package segment

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Event leaves: the events of one kind, name and value counted in a window
// of calendar days (or ever). The index keeps a bitmap per key and day.

var _ leaf = (*eventLeaf)(nil)

type eventKey struct{ kind, name, value string }

func (k eventKey) String() string {
	if k.value != "" {
		return fmt.Sprintf("%s %q=%q", k.kind, k.name, k.value)
	}
	return fmt.Sprintf("%s %q", k.kind, k.name)
}

// eventLeaf: the number of matching events within the last days calendar
// days (0: ever) lies in [lo, hi].
type eventLeaf struct {
	key    eventKey
	days   int64
	lo, hi int64
}

func (l *eventLeaf) String() string {
	window := "ever"
	if l.days > 0 {
		window = fmt.Sprintf("within %dd", l.days)
	}
	if l.lo == 1 && l.hi == math.MaxInt64 {
		return fmt.Sprintf("event(%v, %s)", l.key, window)
	}
	return fmt.Sprintf("count(%v, %s) %s", l.key, window, rangeString(l.lo, l.hi, strconv.FormatInt))
}

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
// planner can still prefer checking a few candidates (the one-pass count,
// frozenTerms, does make it). What it answers for a window is kept for
// the rest of the evaluation: other readers evict cached windows (another
// day's, or a ninth length), and the planner asks more than once, taking
// a leaf as ready on the first answer (an Eval of an or of a window once
// met nil on the second: a panic).
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
	if bm, ok := c.windows[l]; ok {
		return bm
	}
	bm := p.cachedWindow(l.days, c.today)
	if c.windows == nil {
		c.windows = make(map[*eventLeaf]*roaring.Bitmap)
	}
	c.windows[l] = bm
	return bm
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
	if nw*l.checkCost(p, days) < l.indexCost(c, p, days, nw) {
		return filter(w, func(f uint32) bool { return l.matchIn(p, days, f) }), "scan", int(nw)
	}
	// The friends with at least one event in the window, among w.
	var active *roaring.Bitmap
	if l.days == 0 {
		active = roaring.And(p.ever, w)
	} else {
		active = l.activeAmong(c, p, w)
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

// activeAmong returns the friends of w with an event in the window, by
// the cheaper of two ways: unite the window's parts and intersect the
// union with w, or intersect each part with w and unite the (smaller)
// results — the way when w is much smaller than the window, which
// caches nothing. The union is cached (windowUnion) for later calls: a
// 30-day union at 10M friends costs some 12 ms to build from its parts,
// so the first call that builds it pays that once a day (issue 14:
// ten-predicates at 10M, first call 20.4 ms, p50 3.5 with the cache and
// 16 without).
func (l *eventLeaf) activeAmong(c *evalCtx, p *eventPostings, w *roaring.Bitmap) *roaring.Bitmap {
	parts := p.windowParts(c.today-l.days+1, c.today)
	whole, restricted := l.windowCosts(c, parts, card(w))
	if whole <= restricted {
		return roaring.And(p.windowUnion(l.days, c.today), w)
	}
	among := make([]*roaring.Bitmap, 0, len(parts))
	for _, bm := range parts {
		among = append(among, roaring.And(bm, w))
	}
	return orMany(among)
}

// windowCosts estimates activeAmong's two ways for w candidates.
func (l *eventLeaf) windowCosts(c *evalCtx, parts []*roaring.Bitmap, w float64) (whole, restricted float64) {
	sizes := make([]float64, len(parts))
	var n float64
	for i, bm := range parts {
		sizes[i] = card(bm)
		n += sizes[i]
		restricted += c.andCost(sizes[i], w)
	}
	whole = c.orCost(sizes...) + c.andCost(n, w)
	restricted += c.orCost(min(n, w))
	return whole, restricted
}

// checkCost is the cost of deciding one candidate: a test of the ever
// bitmap, and for those who ever had the event, a walk over the window.
func (l *eventLeaf) checkCost(p *eventPostings, days []int64) float64 {
	share := card(p.ever) / max(1, float64(p.ever.Maximum())+1)
	return costContains + share*float64(len(days))*costContains/2
}

// indexCost is the cost of the friends of w candidates active in the
// window — ever among w, or the window's parts united and intersected
// with w, or intersected with w first (activeAmong) — then for a count
// range checking each active friend's days.
func (l *eventLeaf) indexCost(c *evalCtx, p *eventPostings, days []int64, w float64) float64 {
	n := card(p.ever)
	cost := c.andCost(n, w)
	if l.days > 0 {
		parts := p.windowParts(c.today-l.days+1, c.today)
		whole, restricted := l.windowCosts(c, parts, w)
		cost, n = min(whole, restricted), 0
		for _, bm := range parts {
			n += card(bm)
		}
	}
	if !l.anyEvent() {
		cost += min(n, w) * float64(len(days)) * costContains / 2
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
	return min(w*l.checkCost(p, days), l.indexCost(c, p, days, w))
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

func (l *eventLeaf) matchRecord(c *recordCtx) bool {
	var cnt int64
	if c.r.History != nil {
		var from, to time.Time
		if l.days > 0 {
			from, to = midnight(c.today-l.days+1, c.loc), midnight(c.today+1, c.loc)
		}
		cnt = c.r.History.CountEvents(l.key.kind, l.key.name, l.key.value, from, to)
	}
	return cnt >= l.lo && cnt <= l.hi
}
