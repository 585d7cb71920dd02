package segment

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// String leaves: predicates over a string or choice field, or over an
// experiment's variants. Each is decided once per distinct value, then the
// postings of the accepted values are ORed; or each candidate's value is
// checked. A friend without a value satisfies none.

var _ leaf = (*strLeaf)(nil)

type strKind uint8

const (
	strField strKind = iota
	strVariant
)

type strRef struct {
	kind  strKind
	field *fieldInfo // strField
	name  string     // strVariant: the experiment
}

func (r strRef) String() string {
	if r.kind == strVariant {
		return fmt.Sprintf("variant(%q)", r.name)
	}
	return r.field.Name
}

// brief is String for an error message: the experiment's name cut to a
// short prefix (stepcast.Quote).
func (r strRef) brief() string {
	if r.kind == strVariant {
		return "variant(" + stepcast.Quote(r.name) + ")"
	}
	return r.field.Name
}

type strOp uint8

const (
	strIn strOp = iota // value is one of values
	strPrefix
	strSuffix
	strContains
	strMatches
	strLess
	strLessEq
	strGreater
	strGreaterEq
)

var strOpNames = [...]string{strIn: "in", strPrefix: "startsWith", strSuffix: "endsWith", strContains: "contains",
	strMatches: "matches", strLess: "<", strLessEq: "<=", strGreater: ">", strGreaterEq: ">="}

// strLeaf: a predicate over a string-valued column, decided once per
// distinct value.
type strLeaf struct {
	ref    strRef
	op     strOp
	values []string // strIn: the set; other ops: values[0] is the argument
	set    map[string]bool
	re     *regexp.Regexp
}

func (l *strLeaf) accept(v string) bool {
	switch l.op {
	case strIn:
		return l.set[v]
	case strPrefix:
		return strings.HasPrefix(v, l.values[0])
	case strSuffix:
		return strings.HasSuffix(v, l.values[0])
	case strContains:
		return strings.Contains(v, l.values[0])
	case strMatches:
		return l.re.MatchString(v)
	case strLess:
		return v < l.values[0]
	case strLessEq:
		return v <= l.values[0]
	case strGreater:
		return v > l.values[0]
	case strGreaterEq:
		return v >= l.values[0]
	}
	return false
}

func (l *strLeaf) String() string {
	if l.op == strIn {
		if len(l.values) == 1 {
			return fmt.Sprintf("%v == %q", l.ref, l.values[0])
		}
		q := make([]string, len(l.values))
		for i, v := range l.values {
			q[i] = strconv.Quote(v)
		}
		return fmt.Sprintf("%v in [%s]", l.ref, strings.Join(q, ", "))
	}
	return fmt.Sprintf("%v %s %q", l.ref, strOpNames[l.op], l.values[0])
}

func (l *strLeaf) column(c *evalCtx) *strColumn {
	if l.ref.kind == strVariant {
		return c.ix.variants[l.ref.name] // nil: nobody is assigned yet
	}
	return c.ix.fields[l.ref.field.id].str
}

// direct returns the posting of an equality, ready-made.
func (l *strLeaf) direct(c *evalCtx) *roaring.Bitmap {
	col := l.column(c)
	if l.op != strIn || len(l.values) != 1 {
		return nil
	}
	if col == nil {
		return empty
	}
	if id, ok := col.ids[l.values[0]]; ok {
		return c.postingBitmap(&col.postings[id])
	}
	return empty
}

// perValue is the cost of deciding the predicate for one value.
func (l *strLeaf) perValue() float64 {
	switch l.op {
	case strIn:
		return 15
	case strMatches:
		return 300
	case strContains:
		return 40
	}
	return 10
}

// stringCosts estimates the three ways for w candidates: test each
// candidate's value directly; decide the values and look up each
// candidate's code in a table of them; or OR the accepted values'
// postings and intersect. For an order predicate (startsWith, <, …) the
// sorted dictionary says which values hold and how many friends hold
// them, so the estimate is exact; otherwise, until an evaluation decided
// every value, it is a guess.
func (l *strLeaf) stringCosts(c *evalCtx, col *strColumn, w float64) (direct, table, index float64) {
	// A call fetches the candidate's code as a check does: costCall is its
	// cost warm; where the column's geometry makes a check cost more, so
	// does the call.
	direct = w*(costCall+l.perValue()-costCheck) + c.checkCost(&col.codes, w)
	if l.op == strIn {
		decide := float64(len(l.values)) * 50
		var sizes []float64
		for _, v := range l.values {
			if id, ok := col.ids[v]; ok {
				sizes = append(sizes, float64(col.counts[id]))
			}
		}
		est := l.estimate(c)
		return direct, decide + c.checkCost(&col.codes, w), decide + c.orCost(sizes...) + c.andIntoCost(est, w)
	}
	if m := c.strMatching(l, col, false); m != nil {
		table = m.tableCost(len(col.vals), w) + c.checkCost(&col.codes, w)
		index = c.unionCost(m) + c.andIntoCost(m.members, w)
		return direct, table, index
	}
	decide := float64(len(col.vals)) * l.perValue()
	est := l.estimate(c)
	table = decide + c.checkCost(&col.codes, w)
	index = decide + c.orCost(est) + c.andCost(est, w)
	return direct, table, index
}

func (l *strLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	col := l.column(c)
	if col == nil { // nobody has a value
		return roaring.New(), "index", 0
	}
	if bm := l.direct(c); bm != nil {
		return c.evalReady(bm, w)
	}
	nw := card(w)
	direct, table, index := l.stringCosts(c, col, nw)
	if direct <= table && direct <= index {
		return filter(w, func(f uint32) bool { return l.matchIn(col, f) }), "scan", int(nw)
	}
	var ids []uint32
	if l.op == strIn {
		ids = col.matching(l)
	} else {
		m := c.strMatching(l, col, true)
		if table <= index && m.ranksCheaper(len(col.vals), nw) {
			return col.codes.filterRanked(w, m.rank, m.lo, m.hi), "scan", int(nw)
		}
		ids = m.ids
	}
	if table <= index {
		ok := make([]bool, len(col.vals))
		for _, id := range ids {
			ok[id] = true
		}
		return col.codes.filterTable(w, ok), "scan", int(nw)
	}
	return col.unionAmong(ids, w), "index", 0
}

// countIn counts the friends of w holding an accepted value when the
// cheapest way is to OR the values' postings: the union's intersection
// with w is only counted, as plain roaring's last operation is. ok is
// false when another way is cheaper (eval then builds the set).
func (l *strLeaf) countIn(c *evalCtx, w *roaring.Bitmap) (uint64, bool) {
	col := l.column(c)
	if col == nil {
		return 0, true
	}
	if l.direct(c) != nil {
		return 0, false // a ready-made posting: the caller counts it (countReady)
	}
	direct, table, index := l.stringCosts(c, col, card(w))
	if index >= min(direct, table) {
		return 0, false
	}
	var ids []uint32
	if l.op == strIn {
		ids = col.matching(l)
	} else {
		ids = c.strMatching(l, col, true).ids
	}
	return col.union(ids).AndCardinality(w), true
}

func (l *strLeaf) cost(c *evalCtx, w float64) float64 {
	col := l.column(c)
	if col == nil {
		return 0
	}
	if bm := l.direct(c); bm != nil {
		return c.costReady(bm, w)
	}
	return min(l.stringCosts(c, col, w))
}

func (l *strLeaf) match(c *evalCtx, f uint32) bool {
	col := l.column(c)
	return col != nil && l.matchIn(col, f)
}

func (l *strLeaf) matchIn(col *strColumn, f uint32) bool {
	v, ok := col.lookup(f)
	return ok && l.accept(v)
}

var _ counter = (*strLeaf)(nil)

func (l *strLeaf) estimate(c *evalCtx) float64 {
	col := l.column(c)
	if col == nil {
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
	if m := c.strMatching(l, col, false); m != nil {
		return m.members
	}
	return card(col.set) / 4 // only friends with a value can match
}

func (l *strLeaf) matchRecord(c *recordCtx) bool {
	if l.ref.kind == strVariant {
		v := c.r.Variants[l.ref.name]
		return v != "" && l.accept(v)
	}
	o, set := c.field(l.ref.field)
	return set && l.accept(o.s1)
}
