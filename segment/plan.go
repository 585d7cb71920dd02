package segment

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// A plan is a tree of set operations. Inner nodes combine their children;
// leaves name one indexed set (a tag, a field predicate, an event window…).
// Every leaf can be computed two ways: from the index (a bitmap, possibly
// with a check of the edge values) or by checking candidates one by one; the
// evaluator picks the cheaper per node (see eval.go).
type node interface {
	fmt.Stringer
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

// Leaves.

type tagLeaf struct{ name string }

type followingLeaf struct{}

type blockedLeaf struct{}

// boolLeaf: a bool field holds val; friends without a value match
// neither val.
type boolLeaf struct {
	field *fieldInfo
	val   bool
}

type hasLeaf struct{ field *fieldInfo }

type scenarioLeaf struct{ name string }

// stepLeaf: scenario_step(name) in [lo, hi]; non-members read -1.
type stepLeaf struct {
	name   string
	lo, hi int64
}

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

type numKind uint8

const (
	numField numKind = iota
	numScore
	numFollowedAt
)

// numRef names an int64-keyed column: an int, float or time field (floats
// and times are mapped to order-preserving int64 keys), a score, or the time
// of the last follow.
type numRef struct {
	kind numKind
	id   int // field or score index
	name string
	typ  stepcast.FieldType // FieldInt, FieldFloat or FieldTime
}

func (r numRef) String() string {
	switch r.kind {
	case numScore:
		return fmt.Sprintf("score(%q)", r.name)
	case numFollowedAt:
		return "followed_at"
	}
	return r.name
}

// numLeaf: the column's key lies in [lo, hi].
type numLeaf struct {
	ref    numRef
	lo, hi int64
	loc    *time.Location // for printing times
}

// daysLeaf: the number of calendar days from the time column to now lies in
// [lo, hi]; resolved against now into a numLeaf on the column at evaluation.
type daysLeaf struct {
	ref    numRef
	lo, hi int64
}

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

func (l *tagLeaf) String() string       { return fmt.Sprintf("tag(%q)", l.name) }
func (l *followingLeaf) String() string { return "following" }
func (l *blockedLeaf) String() string   { return "blocked" }
func (l *boolLeaf) String() string {
	if l.val {
		return l.field.Name
	}
	return l.field.Name + " == false"
}
func (l *hasLeaf) String() string      { return fmt.Sprintf("has(%q)", l.field.Name) }
func (l *scenarioLeaf) String() string { return fmt.Sprintf("in_scenario(%q)", l.name) }
func (l *stepLeaf) String() string {
	return fmt.Sprintf("scenario_step(%q) %s", l.name, rangeString(l.lo, l.hi, strconv.FormatInt))
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

func (l *numLeaf) String() string {
	format := func(k int64, _ int) string { return formatKey(l.ref.typ, k, l.loc) }
	if l.ref.typ == stepcast.FieldFloat && l.lo != l.hi {
		// x > 0.5 is stored as x >= nextafter(0.5); print it the short way.
		short := func(k int64) string { return formatKey(stepcast.FieldFloat, k, nil) }
		switch {
		case l.lo == math.MinInt64:
			if a, b := short(l.hi), short(l.hi+1); len(b) < len(a) {
				return fmt.Sprintf("%v < %s", l.ref, b)
			}
		case l.hi == math.MaxInt64:
			if a, b := short(l.lo), short(l.lo-1); len(b) < len(a) {
				return fmt.Sprintf("%v > %s", l.ref, b)
			}
		}
	}
	return fmt.Sprintf("%v %s", l.ref, rangeString(l.lo, l.hi, format))
}

func (l *daysLeaf) String() string {
	name := "followed_days"
	if l.ref.kind == numField {
		name = fmt.Sprintf("days_since(%q)", l.ref.name)
	}
	return fmt.Sprintf("%s %s", name, rangeString(l.lo, l.hi, strconv.FormatInt))
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

// Keys: every numeric column stores int64 keys whose order is the order of
// the values.

// floatKey maps a float to an int64 with the same order. -0 is folded into
// +0 (they compare equal); NaN must be excluded by the caller.
func floatKey(f float64) int64 {
	if f == 0 {
		f = 0
	}
	k := int64(math.Float64bits(f))
	if k < 0 {
		k ^= math.MaxInt64
	}
	return k
}

func keyFloat(k int64) float64 {
	if k < 0 {
		k ^= math.MaxInt64
	}
	return math.Float64frombits(uint64(k))
}

// timeKey is the Unix time in whole seconds (the index's time precision).
func timeKey(t time.Time) int64 { return t.Unix() }

func formatKey(t stepcast.FieldType, k int64, loc *time.Location) string {
	switch t {
	case stepcast.FieldFloat:
		return strconv.FormatFloat(keyFloat(k), 'g', -1, 64)
	case stepcast.FieldTime:
		if loc == nil {
			loc = time.UTC
		}
		return time.Unix(k, 0).In(loc).Format(time.RFC3339)
	}
	return strconv.FormatInt(k, 10)
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
