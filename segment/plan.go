package segment

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// A plan is a tree of set operations. Inner nodes (and, or, not, ?:,
// constants, saved segments; nodes.go, cond.go, shared.go) combine their
// children; leaves name one indexed set (a tag, a field predicate, an
// event window…; the leaf_*.go files, one a family).
//
// Every node evaluates itself both ways the package needs: over the index
// (a set among candidates, its cost and size, one friend) and over one
// friend's Record. Both are methods of node, so a node that lacks either
// does not compile.
type node interface {
	fmt.Stringer
	// eval returns the node's friends among within as a new bitmap, the
	// path it took and how many friends it checked one by one. A leaf's
	// path is "index" or "scan"; a saved segment's is "shared" when its
	// set is computed once for every use (see shared.go); an inner node's
	// is "". Call it through evalCtx.eval, which traces it for Explain.
	eval(c *evalCtx, within *roaring.Bitmap) (*roaring.Bitmap, string, int)
	// cost estimates eval's work for w candidates, in rough nanoseconds.
	cost(c *evalCtx, w float64) float64
	// estimate guesses the size of the node's set, cheaply.
	estimate(c *evalCtx) float64
	// match reports whether friend f of the index is in the node's set.
	match(c *evalCtx, f uint32) bool
	// matchRecord reports whether the friend of c's record is in the
	// node's set; a value of the wrong type is recorded in c.
	matchRecord(c *recordCtx) bool
}

// leaf is a plan node the index answers directly. Each leaf knows several
// ways to compute its set within a set of candidates and picks the cheapest
// for the candidates at hand (in eval): intersect a ready-made bitmap,
// compute its set from the index (ORing postings or range bins, checking
// edge values), restrict that computation to the candidates, or check each
// candidate one by one.
type leaf interface {
	node
	// direct returns the leaf's set if the index holds it ready-made, and
	// nil otherwise. The caller must not modify it.
	direct(c *evalCtx) *roaring.Bitmap
}

type andNode struct{ kids []node }
type orNode struct{ kids []node }
type notNode struct{ kid node }
type constNode struct{ val bool }

// savedNode marks where a saved segment was inlined, for Explain.
type savedNode struct {
	name string
	kid  node
}

func (n *andNode) String() string   { return "and" }
func (n *orNode) String() string    { return "or" }
func (n *notNode) String() string   { return "not" }
func (n *constNode) String() string { return strconv.FormatBool(n.val) }
func (n *savedNode) String() string { return fmt.Sprintf("segment(%q)", n.name) }

// Plan constructors that simplify as they build: nested and/or are
// flattened, constants absorbed, double negations removed.

func mkNot(n node) node {
	switch n := n.(type) {
	case *notNode:
		return n.kid
	case *constNode:
		return &constNode{val: !n.val}
	}
	return &notNode{kid: n}
}

func mkAnd(ns ...node) node { return mkJunction(true, ns) }
func mkOr(ns ...node) node  { return mkJunction(false, ns) }

func mkJunction(and bool, ns []node) node {
	var kids []node
	for _, n := range ns {
		switch n := n.(type) {
		case *constNode:
			if n.val != and { // false in an and, true in an or: decides it
				return &constNode{val: n.val}
			}
			continue // the identity element
		case *andNode:
			if and {
				kids = append(kids, n.kids...)
				continue
			}
		case *orNode:
			if !and {
				kids = append(kids, n.kids...)
				continue
			}
		}
		kids = append(kids, n)
	}
	if len(kids) > 1 {
		kids = simplifyJunction(and, kids)
	}
	if and && len(kids) > 1 {
		var none bool
		if kids, none = mergeBands(kids); none {
			return &constNode{val: false}
		}
	}
	switch len(kids) {
	case 0:
		return &constNode{val: and}
	case 1:
		return kids[0]
	}
	if and {
		return &andNode{kids: slices.Clip(kids)}
	}
	return &orNode{kids: slices.Clip(kids)}
}

func rangeString(lo, hi int64, format func(int64, int) string) string {
	switch {
	case lo == math.MinInt64 && hi == math.MaxInt64:
		return "is set" // every value: the friends who have one
	case lo == hi:
		return "== " + format(lo, 10)
	case lo == math.MinInt64:
		return "<= " + format(hi, 10)
	case hi == math.MaxInt64:
		return ">= " + format(lo, 10)
	}
	return fmt.Sprintf("in %s..%s", format(lo, 10), format(hi, 10))
}

// printPlan renders a plan as an indented tree, one node a line. A saved
// segment's plan is printed once, after the tree, in a block headed by its
// name; where it is used, only the name shows. The text grows with the
// number of distinct nodes, and its indentation with the nesting of one
// source, however long a chain of saved segments.
func printPlan(b *strings.Builder, root node) {
	var blocks []*savedNode
	seen := map[node]bool{}
	var write func(n node, depth int)
	write = func(n node, depth int) {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(n.String())
		b.WriteByte('\n')
		if sv, ok := n.(*savedNode); ok {
			if !seen[sv.kid] {
				seen[sv.kid] = true
				blocks = append(blocks, sv)
			}
			return
		}
		for _, k := range children(n) {
			write(k, depth+1)
		}
	}
	write(root, 0)
	for i := 0; i < len(blocks); i++ { // blocks grows as saved plans use others
		fmt.Fprintf(b, "%v:\n", blocks[i])
		write(blocks[i].kid, 1)
	}
}

func children(n node) []node {
	switch n := n.(type) {
	case *andNode:
		return n.kids
	case *orNode:
		return n.kids
	case *notNode:
		return []node{n.kid}
	case *savedNode:
		return []node{n.kid}
	case *condNode:
		return []node{n.cond, n.yes, n.no}
	}
	return nil
}
