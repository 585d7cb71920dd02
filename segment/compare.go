package segment

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"

	"github.com/stepcast/stepcast"
)

// Comparisons: a column compared with a constant, in a list or range, or
// a string predicate, becomes a leaf.

var flipped = map[string]string{"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

func (c *compiler) comparison(b *ast.BinaryNode) (node, error) {
	col, cst, op := b.Left, b.Right, b.Operator
	if c.isConst(col) {
		col, cst, op = cst, col, flipped[op]
	}
	if c.isConst(col) || !c.isConst(cst) {
		return nil, c.errNode(b, "compare a field, score or count with a constant; both sides of %s vary per friend", b.Operator)
	}
	x, err := c.operand(col)
	if err != nil {
		return nil, err
	}
	v, err := c.constEval(cst)
	if err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		if err := c.checkText(cst, "the value", s, stepcast.MaxTextLen); err != nil {
			return nil, err
		}
	}
	return c.compare(b, x, op, v)
}

// compare builds the plan for "x op v".
func (c *compiler) compare(at ast.Node, x operand, op string, v any) (node, error) {
	switch x.kind {
	case opBool:
		want, ok := v.(bool)
		if !ok {
			return nil, c.errNode(at, "cannot compare a condition with %T", v)
		}
		if op != "==" && op != "!=" {
			return nil, c.errNode(at, "conditions can only be compared with == and !=")
		}
		l := x.leaf
		if b, ok := l.(*boolLeaf); ok && !want {
			// A bool field holds false only for friends set to false;
			// vip != false is its complement, as != always is.
			l, want = &boolLeaf{field: b.field, val: false}, true
		}
		if want == (op == "==") {
			return l, nil
		}
		return mkNot(l), nil
	case opStr:
		s, ok := v.(string)
		if !ok {
			return nil, c.errNode(at, "cannot compare %s with %T", x.str.brief(), v)
		}
		switch op {
		case "==", "!=":
			if s == "" {
				return nil, c.errEmptyString(at, x.str)
			}
			if err := c.checkChoice(at, x.str, s); err != nil {
				return nil, err
			}
			l := newStrIn(x.str, []string{s})
			if op == "!=" {
				return mkNot(l), nil
			}
			return l, nil
		}
		sop := map[string]strOp{"<": strLess, "<=": strLessEq, ">": strGreater, ">=": strGreaterEq}[op]
		return &strLeaf{ref: x.str, op: sop, values: []string{s}}, nil
	}
	lo, hi, neg, err := c.bounds(at, x, op, v)
	if err != nil {
		return nil, err
	}
	n := c.rangeNode(x, lo, hi)
	if neg {
		return mkNot(n), nil
	}
	return n, nil
}

// errEmptyString refuses comparing a string with "": the empty string is
// no value (a field set to "" is unset), so the comparison would be empty
// or everyone; the hint names what to write instead.
func (c *compiler) errEmptyString(at ast.Node, ref strRef) *Error {
	name := ref.brief()
	// The hint, to be copied, has the whole name (a name is at most
	// stepcast.MaxNameLen bytes).
	e := c.errNode(at, "the empty string is not a value of %v (setting %v to \"\" unsets it)", name, name)
	if ref.kind == strVariant {
		e.Hint = fmt.Sprintf("list the variants: %v in [\"A\", \"B\"] for the friends assigned one, %v not in [\"A\", \"B\"] for the others", ref, ref)
	} else {
		e.Hint = fmt.Sprintf("use !has(%q) for the friends without a value, has(%q) for those with one", ref.field.Name, ref.field.Name)
	}
	return e
}

// rangeNode is the plan of "x in [lo, hi]". The whole key range is every
// friend for what always has a value (scores, counts, scenario steps), and
// for a field the friends who have one.
func (c *compiler) rangeNode(x operand, lo, hi int64) node {
	switch {
	case lo > hi:
		return &constNode{val: false}
	case lo != math.MinInt64 || hi != math.MaxInt64:
		return c.rangeLeaf(x, lo, hi)
	case x.kind == opCount || x.kind == opStep || (x.kind == opNum && x.num.kind == numScore):
		return &constNode{val: true}
	case x.num.kind == numField:
		return &hasLeaf{field: &c.schema.fields[x.num.id]}
	}
	return c.rangeLeaf(x, lo, hi) // followed_at: the friends who ever followed
}

func (c *compiler) rangeLeaf(x operand, lo, hi int64) node {
	switch x.kind {
	case opDays:
		return &daysLeaf{ref: x.num, lo: lo, hi: hi}
	case opCount:
		return &eventLeaf{key: x.ev, days: x.days, lo: lo, hi: hi}
	case opStep:
		return &stepLeaf{name: x.name, lo: lo, hi: hi}
	}
	return &numLeaf{ref: x.num, lo: lo, hi: hi, loc: c.schema.loc}
}

// bounds turns "x op v" into the closed key range [lo, hi], negated for !=.
// An empty range has lo > hi.
func (c *compiler) bounds(at ast.Node, x operand, op string, v any) (lo, hi int64, neg bool, err error) {
	neg = op == "!="
	if neg {
		op = "=="
	}
	typ := stepcast.FieldInt
	if x.kind == opNum {
		typ = x.num.typ
	}
	switch typ {
	case stepcast.FieldTime:
		t, ok := v.(time.Time)
		if !ok {
			return 0, 0, false, c.errNode(at, "cannot compare %s with %T; use date(\"2006-01-02\") or datetime(…)", x.name+x.desc, v)
		}
		// Times are indexed in whole seconds: a constant with a fraction
		// of a second lies strictly between two indexable values.
		lo, hi = wholeBounds(op, float64(0), t.Unix(), t.Nanosecond() != 0)
		return lo, hi, neg, nil
	case stepcast.FieldFloat:
		f, ok := toFloat(v)
		if !ok {
			return 0, 0, false, c.errNode(at, "cannot compare a number with %T", v)
		}
		if math.IsNaN(f) {
			return 1, 0, neg, nil
		}
		k := floatKey(f)
		lo, hi = math.MinInt64, math.MaxInt64
		switch op {
		case "==":
			lo, hi = k, k
		case "<":
			hi = k - 1
		case "<=":
			hi = k
		case ">":
			lo = k + 1
		case ">=":
			lo = k
		}
		return lo, hi, neg, nil
	}
	switch v := v.(type) {
	case int:
		lo, hi = wholeBounds(op, 0, int64(v), false)
		return lo, hi, neg, nil
	case float64:
		if math.IsNaN(v) {
			return 1, 0, neg, nil
		}
		fl := math.Floor(v)
		if fl < -9.2e18 || fl > 9.2e18 { // beyond int64: everything is on one side
			below := fl > 0
			lo, hi = math.MinInt64, math.MaxInt64
			if (below && (op == ">" || op == ">=" || op == "==")) || (!below && (op == "<" || op == "<=" || op == "==")) {
				lo, hi = 1, 0
			}
			return lo, hi, neg, nil
		}
		lo, hi = wholeBounds(op, 0, int64(fl), fl != v)
		return lo, hi, neg, nil
	}
	return 0, 0, false, c.errNode(at, "cannot compare a whole number with %T", v)
}

// wholeBounds returns the integer range of "x op (k + frac)", where frac
// means a fraction strictly between 0 and 1 is added to k.
func wholeBounds(op string, _ float64, k int64, frac bool) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	switch op {
	case "==":
		if frac {
			return 1, 0
		}
		return k, k
	case "<":
		if frac {
			return lo, k
		}
		if k == math.MinInt64 {
			return 1, 0
		}
		return lo, k - 1
	case "<=":
		return lo, k
	case ">":
		if k == math.MaxInt64 {
			return 1, 0
		}
		return k + 1, hi
	case ">=":
		if frac {
			if k == math.MaxInt64 {
				return 1, 0
			}
			return k + 1, hi
		}
		return k, hi
	}
	return 1, 0
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func (c *compiler) checkChoice(at ast.Node, ref strRef, v string) error {
	if ref.kind != strField || ref.field.Type != stepcast.FieldChoice || ref.field.choices[v] {
		return nil
	}
	return c.errNode(at, "%s is not a choice of %s (choices: %s)", stepcast.Quote(v), ref.field.Name, strings.Join(ref.field.Choices, ", "))
}

func newStrIn(ref strRef, values []string) *strLeaf {
	set := make(map[string]bool, len(values))
	var uniq []string
	for _, v := range values {
		if !set[v] {
			set[v] = true
			uniq = append(uniq, v)
		}
	}
	return &strLeaf{ref: ref, op: strIn, values: uniq, set: set}
}

func (c *compiler) in(b *ast.BinaryNode) (node, error) {
	if !c.isConst(b.Right) {
		return nil, c.errNode(b.Right, "the right side of in must be a constant list or range")
	}
	x, err := c.operand(b.Left)
	if err != nil {
		return nil, err
	}
	// An int range (a..b) becomes one range leaf.
	if r, ok := b.Right.(*ast.BinaryNode); ok && r.Operator == ".." && x.kind != opStr && x.kind != opBool {
		from, err := c.constEval(r.Left)
		if err != nil {
			return nil, err
		}
		to, err := c.constEval(r.Right)
		if err != nil {
			return nil, err
		}
		lo, _, _, err := c.bounds(b, x, ">=", from)
		if err != nil {
			return nil, err
		}
		_, hi, _, err := c.bounds(b, x, "<=", to)
		if err != nil {
			return nil, err
		}
		return c.rangeNode(x, lo, hi), nil
	}
	v, err := c.constEval(b.Right)
	if err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, c.errNode(b.Right, "the right side of in must be a list or range, got %T", v)
	}
	if x.kind == opStr {
		vals := make([]string, 0, rv.Len())
		for i := range rv.Len() {
			s, ok := rv.Index(i).Interface().(string)
			if !ok {
				return nil, c.errNode(b.Right, "%s is a string; the list has a %T", x.str.brief(), rv.Index(i).Interface())
			}
			if err := c.checkText(elem(b.Right, i), "the value", s, stepcast.MaxTextLen); err != nil {
				return nil, err
			}
			if s == "" {
				return nil, c.errEmptyString(b.Right, x.str)
			}
			if err := c.checkChoice(b.Right, x.str, s); err != nil {
				return nil, err
			}
			vals = append(vals, s)
		}
		if len(vals) == 0 {
			return &constNode{val: false}, nil
		}
		return newStrIn(x.str, vals), nil
	}
	var kids []node
	for i := range rv.Len() {
		k, err := c.compare(b, x, "==", rv.Index(i).Interface())
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	return mkOr(kids...), nil
}

func (c *compiler) stringOp(b *ast.BinaryNode) (node, error) {
	if !c.isConst(b.Right) {
		return nil, c.errNode(b.Right, "the right side of %s must be a constant string", b.Operator)
	}
	x, err := c.operand(b.Left)
	if err != nil {
		return nil, err
	}
	if x.kind != opStr {
		return nil, c.errNode(b, "%s needs a string field on its left", b.Operator)
	}
	arg, err := c.constString(b.Right, "the right side of "+b.Operator, stepcast.MaxTextLen)
	if err != nil {
		return nil, err
	}
	l := &strLeaf{ref: x.str, values: []string{arg}}
	switch b.Operator {
	case "startsWith":
		l.op = strPrefix
	case "endsWith":
		l.op = strSuffix
	case "contains":
		l.op = strContains
	case "matches":
		re, err := regexp.Compile(arg)
		if err != nil {
			return nil, c.errNode(b.Right, "bad regular expression: %s", regexpProblem(err))
		}
		l.op, l.re = strMatches, re
	}
	return l, nil
}

// elem is the node of element i of a constant list: the element itself
// when the list is written out, else the whole list.
func elem(list ast.Node, i int) ast.Node {
	if a, ok := list.(*ast.ArrayNode); ok && i < len(a.Nodes) {
		return a.Nodes[i]
	}
	return list
}

// regexpProblem says what is wrong with a regular expression, quoting
// at most a short prefix of the part at fault (regexp's own message may
// repeat the whole pattern).
func regexpProblem(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: %s", se.Code, stepcast.Quote(se.Expr))
	}
	return clip(err.Error(), maxExprMessage)
}
