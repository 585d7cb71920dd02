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

// evalCond evaluates the condition among within, then each branch among
// the candidates it leaves.
func (c *evalCtx) evalCond(n *condNode, within *roaring.Bitmap) *roaring.Bitmap {
	holds := c.eval(n.cond, within)
	yes := c.eval(n.yes, holds)
	no := c.eval(n.no, roaring.AndNot(within, holds))
	yes.Or(no)
	return yes
}

// condShare estimates the share of friends for whom n's condition holds.
func (c *evalCtx) condShare(n *condNode) float64 {
	u := card(c.universe)
	if u == 0 {
		return 0
	}
	return min(1, c.estimate(n.cond)/u)
}

func (c *evalCtx) condCost(n *condNode, w float64) float64 {
	p := c.condShare(n)
	return c.nodeCost(n.cond, w) + c.andCost(w, w*p) + c.nodeCost(n.yes, w*p) + c.nodeCost(n.no, w*(1-p)) + c.orCost(w*p, w*(1-p))
}

func (c *evalCtx) condEstimate(n *condNode) float64 {
	p := c.condShare(n)
	return p*c.estimate(n.yes) + (1-p)*c.estimate(n.no)
}
