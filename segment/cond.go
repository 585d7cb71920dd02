package segment

import (
	"github.com/RoaringBitmap/roaring/v2"
)

// condNode is cond ? yes : no. As and/or/not it would be
// (cond && yes) || (!cond && no), with cond twice in the plan — and a
// condition that is itself a ?: twice again, so n nested conditions would
// evaluate the innermost one 2^n times. A condNode evaluates its condition
// once and each branch among the candidates it selects. The compiler keeps
// the and/or form when the condition is a leaf (or the negation of one),
// which costs nothing to repeat and leaves the planner free to order it.
type condNode struct{ cond, yes, no node }

func (n *condNode) String() string { return "?:" }

var _ node = (*condNode)(nil)

// mkCond builds cond ? yes : no.
func mkCond(cond, yes, no node) node {
	switch k := cond.(type) {
	case *constNode:
		if k.val {
			return yes
		}
		return no
	case *notNode:
		if _, ok := k.kid.(leaf); ok {
			return mkOr(mkAnd(cond, yes), mkAnd(mkNot(cond), no))
		}
	case leaf:
		return mkOr(mkAnd(cond, yes), mkAnd(mkNot(cond), no))
	}
	y, yok := yes.(*constNode)
	n, nok := no.(*constNode)
	switch {
	case yok && nok && y.val == n.val:
		return yes
	case yok && nok:
		if y.val {
			return cond
		}
		return mkNot(cond)
	case yok && y.val:
		return mkOr(cond, no)
	case yok:
		return mkAnd(mkNot(cond), no)
	case nok && n.val:
		return mkOr(mkNot(cond), yes)
	case nok:
		return mkAnd(cond, yes)
	}
	return &condNode{cond: cond, yes: yes, no: no}
}

// eval evaluates the condition among within, then each branch among the
// candidates it leaves.
func (n *condNode) eval(c *evalCtx, within *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	holds := c.eval(n.cond, within)
	yes := c.eval(n.yes, holds)
	no := c.eval(n.no, roaring.AndNot(within, holds))
	yes.Or(no)
	return yes, "", 0
}

// share estimates the share of friends for whom n's condition holds.
func (n *condNode) share(c *evalCtx) float64 {
	u := card(c.universe)
	if u == 0 {
		return 0
	}
	return min(1, n.cond.estimate(c)/u)
}

func (n *condNode) cost(c *evalCtx, w float64) float64 {
	p := n.share(c)
	return n.cond.cost(c, w) + c.andCost(w, w*p) + n.yes.cost(c, w*p) + n.no.cost(c, w*(1-p)) + c.orCost(w*p, w*(1-p))
}

func (n *condNode) estimate(c *evalCtx) float64 {
	p := n.share(c)
	return p*n.yes.estimate(c) + (1-p)*n.no.estimate(c)
}

func (n *condNode) match(c *evalCtx, f uint32) bool {
	if n.cond.match(c, f) {
		return n.yes.match(c, f)
	}
	return n.no.match(c, f)
}

func (n *condNode) matchRecord(c *recordCtx) bool {
	if n.cond.matchRecord(c) {
		return n.yes.matchRecord(c)
	}
	return n.no.matchRecord(c)
}
