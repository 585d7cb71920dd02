package segment

import (
	"fmt"
	"strconv"

	"github.com/RoaringBitmap/roaring/v2"
)

// Scenario leaves: membership, and the step reached (one bitmap per step).
// Experiment variants are string columns (leaf_str.go).

var (
	_ leaf = (*scenarioLeaf)(nil)
	_ leaf = (*stepLeaf)(nil)
)

// scenarioLeaf: the friend is in the scenario.
type scenarioLeaf struct{ name string }

func (l *scenarioLeaf) String() string { return fmt.Sprintf("in_scenario(%q)", l.name) }
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
func (l *scenarioLeaf) matchRecord(c *recordCtx) bool {
	_, in := c.r.Scenarios[l.name]
	return in
}

// stepLeaf: scenario_step(name) in [lo, hi]; non-members read -1.
type stepLeaf struct {
	name   string
	lo, hi int64
}

func (l *stepLeaf) String() string {
	return fmt.Sprintf("scenario_step(%q) %s", l.name, rangeString(l.lo, l.hi, strconv.FormatInt))
}

func (l *stepLeaf) direct(c *evalCtx) *roaring.Bitmap { return nil }

// holds reports whether step s is in the leaf's range.
func (l *stepLeaf) holds(s int64) bool { return l.lo <= s && s <= l.hi }

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
		for s, st := range sc.steps {
			if s >= l.lo && s <= l.hi {
				parts = append(parts, roaring.And(st.bm, w))
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

func (l *stepLeaf) matchRecord(c *recordCtx) bool {
	step := int64(-1)
	if s, in := c.r.Scenarios[l.name]; in {
		step = int64(s)
	}
	return step >= l.lo && step <= l.hi
}
