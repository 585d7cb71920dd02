package segment

import (
	"fmt"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Explanation is the evaluated plan of a segment: one node per set
// operation with the number of friends it produced and how it was computed.
type Explanation struct {
	Node       string // the operation: and, or, not, tag("vip"), age in 30..39, …
	Count      uint64 // friends in the node's result (within its candidates)
	Candidates uint64 // friends the node was evaluated among
	// Path says how a leaf was computed: "index" (from the bitmaps, with
	// Checked edge members compared one by one), "scan" (each of the
	// Candidates checked one by one, cheaper when they are few), or
	// "skipped" (an earlier operand of an and left nothing). A saved
	// segment used more than once in the plan says "shared": its set is
	// computed once, among all the audience, and intersected with the
	// candidates of each use; that computation is the child of the use
	// that made it, and the other uses have no children.
	Path     string
	Checked  int
	Children []*Explanation

	saved bool // a segment("name") node
}

// Explain evaluates the segment at now like Eval and returns the plan it
// ran, with each node's cardinality and whether it was indexed or scanned.
//
// The plan is traced step by step, so it leaves out shortcuts that Eval
// and Count take untraced: intersecting ready-made sets in place, meeting
// the audience last, and taking an and of ready-made sets (tags, values,
// their unions and nots) in one pass over their containers, block by block,
// among the followers. Count's plan can also end differently: it
// only counts the last step of a top-level and, so it may take the last
// two operands in the other order and count an or or a not without
// building its set. The friends in each result are the same.
func (s *Segment) Explain(ix *Index, now time.Time) (*Explanation, error) {
	if ix.schema != s.schema {
		return nil, ErrSchemaMismatch
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	root := &Explanation{}
	c := s.newCtx(ix, now, root)
	c.eval(s.root, c.universe)
	return root.Children[0], nil
}

// enter opens a trace node for n under the current one.
func (c *evalCtx) enter(n node, within *roaring.Bitmap) *Explanation {
	if c.trace == nil {
		return nil
	}
	_, saved := n.(*savedNode)
	e := &Explanation{Node: n.String(), Candidates: within.GetCardinality(), saved: saved}
	c.trace.Children = append(c.trace.Children, e)
	c.parents = append(c.parents, c.trace)
	c.trace = e
	return e
}

func (c *evalCtx) leave(e *Explanation, out *roaring.Bitmap) {
	if e == nil {
		return
	}
	e.Count = out.GetCardinality()
	c.trace = c.parents[len(c.parents)-1]
	c.parents = c.parents[:len(c.parents)-1]
}

func (c *evalCtx) skipped(n node) {
	if c.trace == nil {
		return
	}
	c.trace.Children = append(c.trace.Children, &Explanation{Node: n.String(), Path: "skipped"})
}

func (e *Explanation) setPath(path string, checked int) {
	if e != nil {
		e.Path, e.Checked = path, checked
	}
}

// String renders the explanation as an indented tree. The evaluation of a
// saved segment is printed after the tree, in a block headed by its name,
// so that the text grows with the number of nodes evaluated, and its
// indentation with the nesting of one source.
func (e *Explanation) String() string {
	var b strings.Builder
	var blocks []*Explanation
	e.write(&b, 0, &blocks)
	for i := 0; i < len(blocks); i++ { // blocks grows as saved segments use others
		fmt.Fprintf(&b, "%s:\n", blocks[i].Node)
		for _, k := range blocks[i].Children {
			k.write(&b, 1, &blocks)
		}
	}
	return b.String()
}

func (e *Explanation) write(b *strings.Builder, depth int, blocks *[]*Explanation) {
	line := strings.Repeat("  ", depth) + e.Node
	switch e.Path {
	case "skipped":
		fmt.Fprintf(b, "%-44s skipped\n", line)
	case "":
		fmt.Fprintf(b, "%-44s %10d\n", line, e.Count)
	case "scan":
		fmt.Fprintf(b, "%-44s %10d  scan of %d candidates\n", line, e.Count, e.Candidates)
	case "shared":
		fmt.Fprintf(b, "%-44s %10d  shared\n", line, e.Count)
	default:
		if e.Checked > 0 {
			fmt.Fprintf(b, "%-44s %10d  index, %d checked\n", line, e.Count, e.Checked)
		} else {
			fmt.Fprintf(b, "%-44s %10d  index\n", line, e.Count)
		}
	}
	if e.saved && len(e.Children) > 0 {
		*blocks = append(*blocks, e)
		return
	}
	for _, k := range e.Children {
		k.write(b, depth+1, blocks)
	}
}
