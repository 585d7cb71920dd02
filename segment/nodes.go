package segment

import (
	"math"

	"github.com/RoaringBitmap/roaring/v2"
)

// and, or, not and constants: each evaluated over the index and over a
// record. ?: is in cond.go, saved segments in shared.go.

var (
	_ node = (*andNode)(nil)
	_ node = (*orNode)(nil)
	_ node = (*notNode)(nil)
	_ node = (*constNode)(nil)
)

func (n *andNode) eval(c *evalCtx, within *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	if within == c.universe {
		if out, ok := c.evalFrozenAnd(n.kids); ok {
			return out, "", 0
		}
		if out, ok := c.evalFrozenChecked(n.kids); ok {
			return out, "", 0
		}
	}
	out, _ := c.evalAnd(n.kids, within, false)
	return out, "", 0
}

func (n *andNode) cost(c *evalCtx, w float64) float64 { return sumCost(c, n.kids, w) }

func (n *andNode) estimate(c *evalCtx) float64 {
	m := math.MaxFloat64
	for _, k := range n.kids {
		m = min(m, k.estimate(c))
	}
	return m
}

func (n *andNode) match(c *evalCtx, f uint32) bool {
	for _, k := range n.kids {
		if !k.match(c, f) {
			return false
		}
	}
	return true
}

func (n *andNode) matchRecord(c *recordCtx) bool {
	for _, k := range n.kids {
		if !k.matchRecord(c) {
			return false
		}
	}
	return true
}

func (n *orNode) eval(c *evalCtx, within *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	parts := make([]*roaring.Bitmap, 0, len(n.kids))
	ready, rest := c.readyKids(n.kids)
	if len(ready) >= 2 && c.unionFirst(ready, within) {
		// Union the ready-made sets, then intersect once: cheaper than an
		// intersection each when the candidates are many (a top-level or
		// of dense tags, a not of one).
		bms := make([]*roaring.Bitmap, len(ready))
		for i, k := range ready {
			bms[i] = k.direct(c)
			c.traceReady(k, bms[i], within)
		}
		// Into a new bitmap: intersecting the union in place would turn
		// its dense containers into sparse ones one by one.
		parts = append(parts, roaring.And(within, fastOr(bms)))
	} else {
		rest = n.kids
	}
	for _, k := range rest {
		parts = append(parts, c.eval(k, within))
	}
	if len(parts) == 1 {
		return parts[0], "", 0
	}
	return fastOr(parts), "", 0
}

// readyKids splits an or's operands into the leaves whose sets the index
// holds ready-made and the others.
func (c *evalCtx) readyKids(kids []node) (ready []leaf, rest []node) {
	for _, k := range kids {
		if l, ok := k.(leaf); ok && l.direct(c) != nil {
			ready = append(ready, l)
			continue
		}
		rest = append(rest, k)
	}
	return ready, rest
}

// unionFirst reports whether ORing the ready-made sets and intersecting the
// union with the candidates beats intersecting each with them.
func (c *evalCtx) unionFirst(ready []leaf, within *roaring.Bitmap) bool {
	first, each := c.readyOrCosts(ready, card(within))
	return first < each
}

// readyOrCosts estimates the two ways to take an or of ready-made sets
// among w candidates: OR the sets and intersect the union once (first), or
// intersect each and OR the parts (each).
func (c *evalCtx) readyOrCosts(ready []leaf, w float64) (first, each float64) {
	var sum float64
	bms := make([]*roaring.Bitmap, len(ready))
	cut := make([]float64, len(ready)) // each set among the candidates, as a guess
	for i, l := range ready {
		bms[i] = l.direct(c)
		sum += card(bms[i])
		cut[i] = min(card(bms[i]), w)
		each += c.costReady(bms[i], w)
	}
	first = c.fastOrCostOf(bms) + c.andCost(min(sum, c.chunks()*65536), w)
	return first, each + c.fastOrCost(cut...)
}

// traceReady records, for Explain, a leaf whose ready-made set an inner
// node used whole.
func (c *evalCtx) traceReady(l leaf, bm, within *roaring.Bitmap) {
	if c.trace == nil {
		return
	}
	c.trace.Children = append(c.trace.Children, &Explanation{Node: l.String(), Path: "index",
		Candidates: within.GetCardinality(), Count: within.AndCardinality(bm)})
}

// cost is an intersection each, or, with two ready-made sets or more,
// their union intersected once when that is cheaper, as eval takes it.
// Costed as an intersection each always, an or of dense tags looked dearer
// than a score band among 588,920 candidates at 10M (the suite's g003: 3.5
// ms building the band first, where the or cuts the candidates to 14,128
// for the band to check).
func (n *orNode) cost(c *evalCtx, w float64) float64 {
	each := sumCost(c, n.kids, w)
	ready, rest := c.readyKids(n.kids)
	if len(ready) < 2 {
		return each
	}
	if first, _ := c.readyOrCosts(ready, w); first+sumCost(c, rest, w) < each {
		return first + sumCost(c, rest, w)
	}
	return each
}

func (n *orNode) estimate(c *evalCtx) float64 {
	var s float64
	for _, k := range n.kids {
		s += k.estimate(c)
	}
	return s
}

func (n *orNode) match(c *evalCtx, f uint32) bool {
	for _, k := range n.kids {
		if k.match(c, f) {
			return true
		}
	}
	return false
}

func (n *orNode) matchRecord(c *recordCtx) bool {
	for _, k := range n.kids {
		if k.matchRecord(c) {
			return true
		}
	}
	return false
}

func sumCost(c *evalCtx, kids []node, w float64) float64 {
	var sum float64
	for _, k := range kids {
		sum += k.cost(c, w)
	}
	return sum
}

// not is taken against the candidates, and so against the audience.

func (n *notNode) eval(c *evalCtx, within *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	if l, ok := n.kid.(leaf); ok {
		// A ready-made set is subtracted whole: its intersection with
		// the candidates would be one more pass.
		if bm := l.direct(c); bm != nil && !c.scanReady(bm, within) {
			c.traceReady(l, bm, within)
			return roaring.AndNot(within, bm), "", 0
		}
	}
	return roaring.AndNot(within, c.eval(n.kid, within)), "", 0
}

func (n *notNode) cost(c *evalCtx, w float64) float64 {
	return n.kid.cost(c, w) + c.andCost(w, w/2)
}

func (n *notNode) estimate(c *evalCtx) float64 {
	return max(0, float64(c.universe.GetCardinality())-n.kid.estimate(c))
}

func (n *notNode) match(c *evalCtx, f uint32) bool { return !n.kid.match(c, f) }
func (n *notNode) matchRecord(c *recordCtx) bool   { return !n.kid.matchRecord(c) }

func (n *constNode) eval(c *evalCtx, within *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	if n.val {
		return within.Clone(), "", 0
	}
	return roaring.New(), "", 0
}

func (n *constNode) cost(c *evalCtx, w float64) float64 { return 0 }

func (n *constNode) estimate(c *evalCtx) float64 {
	if n.val {
		return float64(c.universe.GetCardinality())
	}
	return 0
}

func (n *constNode) match(c *evalCtx, f uint32) bool { return n.val }
func (n *constNode) matchRecord(c *recordCtx) bool   { return n.val }
