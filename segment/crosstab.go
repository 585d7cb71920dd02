package segment

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// MaxCrossTabCells bounds the combinations a cross tabulation may have
// (the product of its axes' segment counts): 2^20 cells hold 8 MiB of
// counts and take as many intersections. A table of 40 two-segment axes
// would otherwise ask for 8 TB before counting anything.
const MaxCrossTabCells = 1 << 20

// Axis is one dimension of a cross tabulation (クロス分析): a list of
// labelled segments, such as inflow routes or score bands. The segments of
// an axis need not be disjoint.
type Axis struct {
	Name     string
	Labels   []string
	Segments []*Segment
}

// Table holds the counts of a cross tabulation over two or more axes.
type Table struct {
	Axes   []Axis
	counts []uint64 // row-major over the axes
	totals [][]uint64
}

// CrossTab counts, at time now, the friends in every combination of one
// segment from each axis: with two axes, a matrix such as inflow route ×
// gender. Each segment is evaluated once; the cells are intersections
// counted without materializing the last one.
//
// Errors: no axis, an axis without segments or whose labels do not match
// its segments one for one, more than MaxCrossTabCells combinations (wrapping
// stepcast.ErrInvalid; nothing is evaluated), or a segment's evaluation
// error.
func CrossTab(ix *Index, now time.Time, axes ...Axis) (*Table, error) {
	if len(axes) == 0 {
		return nil, errors.New("segment: CrossTab needs at least one axis")
	}
	product := 1
	for _, ax := range axes {
		if n := len(ax.Segments); n > 0 && product > MaxCrossTabCells/n {
			return nil, fmt.Errorf("%w: segment: CrossTab over %d axes has more than %d combinations (at axis %q)",
				stepcast.ErrInvalid, len(axes), MaxCrossTabCells, ax.Name)
		} else if n > 0 {
			product *= n
		}
	}
	sets := make([][]*roaring.Bitmap, len(axes))
	t := &Table{Axes: axes, totals: make([][]uint64, len(axes))}
	cells := 1
	for a, ax := range axes {
		if len(ax.Labels) != len(ax.Segments) {
			return nil, fmt.Errorf("segment: axis %q has %d labels for %d segments", ax.Name, len(ax.Labels), len(ax.Segments))
		}
		if len(ax.Segments) == 0 {
			return nil, fmt.Errorf("segment: axis %q has no segments", ax.Name)
		}
		for _, s := range ax.Segments {
			bm, err := s.Eval(ix, now)
			if err != nil {
				return nil, fmt.Errorf("segment: axis %q: %w", ax.Name, err)
			}
			sets[a] = append(sets[a], bm)
			t.totals[a] = append(t.totals[a], bm.GetCardinality())
		}
		cells *= len(ax.Segments)
	}
	t.counts = make([]uint64, 0, cells)
	var walk func(a int, acc *roaring.Bitmap)
	walk = func(a int, acc *roaring.Bitmap) {
		last := a == len(axes)-1
		for _, bm := range sets[a] {
			switch {
			case acc == nil && last:
				t.counts = append(t.counts, bm.GetCardinality())
			case acc == nil:
				walk(a+1, bm)
			case last:
				t.counts = append(t.counts, acc.AndCardinality(bm))
			default:
				walk(a+1, roaring.And(acc, bm))
			}
		}
	}
	walk(0, nil)
	return t, nil
}

// At returns the count of the cell at one index per axis.
func (t *Table) At(idx ...int) uint64 {
	if len(idx) != len(t.Axes) {
		panic(fmt.Sprintf("segment: Table.At with %d indexes for %d axes", len(idx), len(t.Axes)))
	}
	off := 0
	for a, i := range idx {
		off = off*len(t.Axes[a].Segments) + i
	}
	return t.counts[off]
}

// Total returns the number of friends in segment i of axis a, whatever
// their place on the other axes.
func (t *Table) Total(a, i int) uint64 { return t.totals[a][i] }

// String renders a two-axis table as aligned text, with totals; other
// tables as one line per cell.
func (t *Table) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(t.Axes) == 2 {
		rows, cols := t.Axes[0], t.Axes[1]
		fmt.Fprintf(w, "%s \\ %s\t", rows.Name, cols.Name)
		for _, l := range cols.Labels {
			fmt.Fprintf(w, "%s\t", l)
		}
		fmt.Fprintln(w, "total\t")
		for i, l := range rows.Labels {
			fmt.Fprintf(w, "%s\t", l)
			for j := range cols.Labels {
				fmt.Fprintf(w, "%d\t", t.At(i, j))
			}
			fmt.Fprintf(w, "%d\t\n", t.Total(0, i))
		}
		fmt.Fprint(w, "total\t")
		for j := range cols.Labels {
			fmt.Fprintf(w, "%d\t", t.Total(1, j))
		}
		fmt.Fprintln(w, "\t")
		w.Flush()
		return b.String()
	}
	idx := make([]int, len(t.Axes))
	for _, n := range t.counts {
		for a, i := range idx {
			fmt.Fprintf(w, "%s=%s\t", t.Axes[a].Name, t.Axes[a].Labels[i])
		}
		fmt.Fprintf(w, "%d\t\n", n)
		for a := len(idx) - 1; a >= 0; a-- { // odometer
			idx[a]++
			if idx[a] < len(t.Axes[a].Segments) {
				break
			}
			idx[a] = 0
		}
	}
	w.Flush()
	return b.String()
}
