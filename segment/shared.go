package segment

import (
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// Shared subplans.
//
// Every segment("name") in a plan points at the one compiled plan of that
// saved segment, so a plan is a DAG: a saved segment used by two others,
// each used twice in turn, is reached by 2, 4, 8… paths. Evaluated path by
// path, a chain of such segments costs 2^depth. Instead, a saved segment
// reached through more than one use in a plan is shared: a query computes
// its set once — over the whole audience, since each use sees other
// candidates — and intersects that set at each use; estimates and costs
// are remembered the same way, and Match and MatchRecord remember its answer
// for the friend. A saved segment used once is evaluated among its
// candidates like any other subplan. Apart from saved segments the
// compiler builds trees (a ?: whose condition is more than a leaf becomes
// one condNode), so each node of a plan is evaluated at most once a query.

var _ node = (*savedNode)(nil)

// sharing is the set of shared saved plans of a segment, found at its first
// evaluation.
type sharing struct {
	once sync.Once
	set  map[node]bool // the roots of saved plans used more than once; nil if none
}

// shared returns the roots of the saved plans that s uses more than once.
func (s *Segment) shared() map[node]bool {
	s.sharing.once.Do(func() { s.sharing.set = findShared(s.root) })
	return s.sharing.set
}

// findShared counts the uses of each saved plan reachable from root,
// walking each saved plan once: linear in the distinct nodes.
func findShared(root node) map[node]bool {
	uses := map[node]int{}
	var walk func(n node)
	walk = func(n node) {
		if sv, ok := n.(*savedNode); ok {
			uses[sv.kid]++
			if uses[sv.kid] == 1 {
				walk(sv.kid)
			}
			return
		}
		for _, k := range children(n) {
			walk(k)
		}
	}
	walk(root)
	var set map[node]bool
	for n, u := range uses {
		if u > 1 {
			if set == nil {
				set = make(map[node]bool)
			}
			set[n] = true
		}
	}
	return set
}

// memo holds, for one query, what is known of its shared saved plans.
type memo struct {
	sets      map[node]*roaring.Bitmap // full sets, within the universe; never modified
	estimates map[node]float64
	costs     map[node]float64 // the cost of computing the full set
	matches   map[node]bool    // Match and MatchRecord: the friend's answer
}

func (c *evalCtx) isShared(n *savedNode) bool { return c.shared[n.kid] }

// eval returns n ∩ within and, for a shared plan, the path "shared". A
// shared plan's full set is computed once; its explanation is placed under
// the use that computed it.
func (n *savedNode) eval(c *evalCtx, within *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	if !c.isShared(n) {
		return c.eval(n.kid, within), "", 0
	}
	full, ok := c.memo.sets[n.kid]
	if !ok {
		full = c.eval(n.kid, c.universe)
		if c.memo.sets == nil {
			c.memo.sets = make(map[node]*roaring.Bitmap)
		}
		c.memo.sets[n.kid] = full
	}
	if within == c.universe { // full is within it already
		return full.Clone(), "shared", 0
	}
	out, _, _ := c.evalReady(full, within)
	return out, "shared", 0
}

func (n *savedNode) estimate(c *evalCtx) float64 {
	if !c.isShared(n) {
		return n.kid.estimate(c)
	}
	if full, ok := c.memo.sets[n.kid]; ok {
		return card(full)
	}
	if e, ok := c.memo.estimates[n.kid]; ok {
		return e
	}
	e := n.kid.estimate(c)
	if c.memo.estimates == nil {
		c.memo.estimates = make(map[node]float64)
	}
	c.memo.estimates[n.kid] = e
	return e
}

// cost: a shared plan costs computing its full set until that is done,
// then an intersection.
func (n *savedNode) cost(c *evalCtx, w float64) float64 {
	if !c.isShared(n) {
		return n.kid.cost(c, w)
	}
	if full, ok := c.memo.sets[n.kid]; ok {
		return c.costReady(full, w)
	}
	if cost, ok := c.memo.costs[n.kid]; ok {
		return cost
	}
	cost := n.kid.cost(c, card(c.universe))
	if c.memo.costs == nil {
		c.memo.costs = make(map[node]float64)
	}
	c.memo.costs[n.kid] = cost
	return cost
}

func (n *savedNode) match(c *evalCtx, f uint32) bool {
	if !c.isShared(n) {
		return n.kid.match(c, f)
	}
	if m, ok := c.memo.matches[n.kid]; ok {
		return m
	}
	return c.rememberMatch(n, n.kid.match(c, f))
}

func (n *savedNode) matchRecord(c *recordCtx) bool {
	if !c.isShared(n) {
		return n.kid.matchRecord(c)
	}
	if m, ok := c.memo.matches[n.kid]; ok {
		return m
	}
	return c.rememberMatch(n, n.kid.matchRecord(c))
}

// rememberMatch records the friend's answer m for a shared plan and
// returns it.
func (c *evalCtx) rememberMatch(n *savedNode, m bool) bool {
	if c.memo.matches == nil {
		c.memo.matches = make(map[node]bool)
	}
	c.memo.matches[n.kid] = m
	return m
}
