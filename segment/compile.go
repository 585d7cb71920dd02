package segment

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	exprcompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/stepcast/stepcast"
)

// Segment is a compiled segment expression: a plan of set operations over an
// Index. It is immutable and safe for concurrent use.
type Segment struct {
	src    string
	schema *Schema
	root   node
	// wide is set when the expression mentions following or blocked: the
	// audience is then drawn from every known friend instead of only the
	// friends who currently follow.
	wide bool
	// depth is the longest chain of saved segments the plan reaches,
	// itself included if it is saved.
	depth   int
	sharing sharing
}

// Source returns the expression the segment was compiled from.
func (s *Segment) Source() string { return s.src }

// Schema returns the schema the segment was compiled against.
func (s *Segment) Schema() *Schema { return s.schema }

// IncludesBlocked reports whether the segment's audience is drawn from all
// known friends (the expression mentions following or blocked) rather than
// only from those who currently follow.
func (s *Segment) IncludesBlocked() bool { return s.wide }

// Plan returns the compiled plan as an indented tree, one node a line,
// followed by the plan of each saved segment it uses, once each, headed by
// segment("name"):.
func (s *Segment) Plan() string {
	var b strings.Builder
	printPlan(&b, s.root)
	return b.String()
}

// Compile parses and type-checks src against schema with expr, then
// translates it into a plan of set operations. Errors are *Error values
// with the line, column and a caret snippet.
//
// The language is expr's syntax over these names:
//
//	tag("interest/beauty")               the friend has the tag
//	gender == "female", area in [...]    string and choice fields
//	age in 30..39, spend >= 5000         int and float fields (a float range is the closed interval)
//	birthday < date("2000-01-01")        time fields; date() and datetime() are local to the schema's zone
//	name startsWith "山", memo contains "VIP", code matches "^A[0-9]+$", name < "m"
//	vip, vip == false                    bool fields
//	has("age")                           the field has a value
//	following, blocked                   follow status; blocked: followed once, not following now
//	followed_days <= 6, followed_at      calendar days since the last follow; its time
//	days_since("last_visit") >= 30       calendar days since a time field
//	clicked("url"), clicked("url", 7)    a click ever, or within the last 7 calendar days (today included)
//	answered("q1"), answered("q1", "yes"), answered("q1", "yes", 30)
//	converted("purchase", 30), did("kind", "name", 30)
//	count("click", "url", 30) >= 3       events counted in a window
//	score("lead") >= 10
//	in_scenario("trial"), scenario_step("trial") >= 2   (non-members read -1)
//	variant("welcome") == "B"
//	segment("vip")                       a saved segment
//
// combined with &&, ||, ! (and, or, not) and ?: to any depth. Comparisons
// take a column on one side and a constant (any constant expression) on the
// other. Unless the expression mentions following or blocked, the audience is
// drawn only from friends who currently follow, and ! is taken against them.
//
// A condition on a field, a variant, followed_at or followed_days holds only
// for friends who have a value; != and not in, the complements of == and
// in, hold for the others too. Scores and event counts always have one (0).
// The empty string is not a value: comparing with "" is an error whose Hint
// suggests has(). The package documentation states the semantics in full.
//
// Limits: a source is at most MaxSourceLen bytes (16 KiB) and MaxNodes
// (2000) syntax nodes. Saved segments are compiled once, by NewSchema, and
// do not count toward the nodes of the expressions that use them; they may
// use one another in chains of at most MaxSavedDepth (100), or NewSchema
// returns ErrTooDeep. A saved segment used more than once in a plan, directly
// or through others, is evaluated once per query and its set reused, and a
// ?: evaluates its condition once, so the work of a query and the text of
// Plan and Explain grow with the number of distinct nodes, never with the
// number of paths to them. Friend IDs follow the contract stated on Index.
func Compile(src string, schema *Schema) (seg *Segment, err error) {
	defer func() {
		// expr's parser and checker are fuzzed upstream and here; should
		// one still panic, the caller gets an error, not a crash.
		if r := recover(); r != nil {
			seg, err = nil, &Error{Line: 1, Column: 1, Message: fmt.Sprintf("internal error compiling the expression: %v", r)}
		}
	}()
	c := &compiler{schema: schema, src: src}
	return c.compile()
}

// MustCompile is like Compile but panics on error; for tests and examples.
func MustCompile(src string, schema *Schema) *Segment {
	s, err := Compile(src, schema)
	if err != nil {
		panic(err)
	}
	return s
}

type compiler struct {
	schema *Schema
	src    string
	name   string // the saved segment being compiled, if any

	// While NewSchema compiles saved segments, savedSrc holds their
	// sources and visit compiles one on demand (detecting cycles).
	savedSrc map[string]string
	visit    func(string) error

	wide     bool
	depth    int // the deepest saved segment referenced
	constCfg *conf.Config
}

func (c *compiler) compile() (*Segment, error) {
	if len(c.src) > MaxSourceLen {
		return nil, c.errAt(file.Location{From: utf8.RuneCountInString(c.src[:MaxSourceLen])},
			"expression is %d bytes long; the limit is %d", len(c.src), MaxSourceLen)
	}
	if strings.TrimSpace(c.src) == "" {
		return nil, &Error{Segment: c.name, Line: 1, Column: 1, Message: "empty expression (write true for every friend who follows)"}
	}
	cfg := c.schema.configs.Get().(*conf.Config)
	tree, err := checker.ParseCheck(c.src, cfg)
	c.schema.configs.Put(cfg)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, newError(c.name, fe)
		}
		return nil, &Error{Segment: c.name, Line: 1, Column: 1, Message: err.Error()}
	}
	root, err := c.boolExpr(tree.Node)
	if err != nil {
		return nil, err
	}
	depth := c.depth
	if c.name != "" {
		depth++
	}
	return &Segment{src: c.src, schema: c.schema, root: root, wide: c.wide, depth: depth}, nil
}

func (c *compiler) errAt(loc file.Location, format string, args ...any) *Error {
	fe := &file.Error{Location: loc, Message: fmt.Sprintf(format, args...)}
	fe = fe.Bind(file.NewSource(c.src))
	return newError(c.name, fe)
}

func (c *compiler) errNode(n ast.Node, format string, args ...any) *Error {
	return c.errAt(n.Location(), format, args...)
}

// boolExpr translates a boolean expression into a plan.
func (c *compiler) boolExpr(n ast.Node) (node, error) {
	if c.isConst(n) {
		v, err := c.constEval(n)
		if err != nil {
			return nil, err
		}
		b, ok := v.(bool)
		if !ok {
			return nil, c.errNode(n, "expected a condition, got the constant %v", v)
		}
		return &constNode{val: b}, nil
	}
	switch n := n.(type) {
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			kid, err := c.boolExpr(n.Node)
			if err != nil {
				return nil, err
			}
			return mkNot(kid), nil
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			l, err := c.boolExpr(n.Left)
			if err != nil {
				return nil, err
			}
			r, err := c.boolExpr(n.Right)
			if err != nil {
				return nil, err
			}
			if n.Operator == "&&" || n.Operator == "and" {
				return mkAnd(l, r), nil
			}
			return mkOr(l, r), nil
		case "==", "!=", "<", "<=", ">", ">=":
			return c.comparison(n)
		case "in":
			return c.in(n)
		case "startsWith", "endsWith", "contains", "matches":
			return c.stringOp(n)
		}
	case *ast.ConditionalNode:
		cond, err := c.boolExpr(n.Cond)
		if err != nil {
			return nil, err
		}
		a, err := c.boolExpr(n.Exp1)
		if err != nil {
			return nil, err
		}
		b, err := c.boolExpr(n.Exp2)
		if err != nil {
			return nil, err
		}
		return mkCond(cond, a, b), nil
	case *ast.IdentifierNode, *ast.CallNode:
		op, err := c.operand(n)
		if err != nil {
			return nil, err
		}
		if op.kind != opBool {
			return nil, c.errNode(n, "%s is not a condition; compare it with a value", describe(n))
		}
		return op.leaf, nil
	}
	return nil, c.errNode(n, "%s is not supported in a segment", describe(n))
}

func describe(n ast.Node) string {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			return id.Value + "(…)"
		}
	case *ast.BinaryNode:
		return fmt.Sprintf("operator %s", n.Operator)
	case *ast.VariableDeclaratorNode:
		return "let"
	case *ast.PredicateNode, *ast.PointerNode:
		return "a predicate"
	case *ast.BuiltinNode:
		return n.Name + "(…)"
	case *ast.UnaryNode:
		return fmt.Sprintf("operator %s", n.Operator)
	}
	return strings.TrimPrefix(reflect.TypeOf(n).String(), "*ast.")
}

// isConst reports whether n mentions nothing that varies per friend.
func (c *compiler) isConst(n ast.Node) bool {
	v := &constVisitor{env: c.schema.env, constant: true}
	ast.Walk(&n, v)
	return v.constant
}

type constVisitor struct {
	env      map[string]any
	constant bool
}

func (v *constVisitor) Visit(n *ast.Node) {
	switch n := (*n).(type) {
	case *ast.IdentifierNode:
		if _, ok := v.env[n.Value]; ok {
			v.constant = false
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); !ok || (id.Value != "date" && id.Value != "datetime") {
			v.constant = false
		}
	case *ast.PointerNode, *ast.PredicateNode, *ast.VariableDeclaratorNode, *ast.MemberNode, *ast.BuiltinNode:
		v.constant = false
	}
}

// constEval evaluates a constant subexpression with expr itself, so that
// constants mean exactly what they mean in expr (7/2 is 3.5).
func (c *compiler) constEval(n ast.Node) (any, error) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, nil
	case *ast.FloatNode:
		return n.Value, nil
	case *ast.StringNode:
		return n.Value, nil
	case *ast.BoolNode:
		return n.Value, nil
	}
	if c.constCfg == nil {
		cfg := conf.CreateNew()
		for _, op := range c.schema.constOptions() {
			op(cfg)
		}
		for name := range cfg.Disabled {
			delete(cfg.Builtins, name)
		}
		c.constCfg = cfg
	}
	prog, err := exprcompiler.Compile(&parser.Tree{Node: n, Source: file.NewSource(c.src)}, c.constCfg)
	if err != nil {
		return nil, c.errNode(n, "cannot evaluate constant: %v", err)
	}
	v, err := runConst(prog)
	if err != nil {
		return nil, c.errNode(n, "%v", unwrapRuntime(err))
	}
	return v, nil
}

func runConst(prog *vm.Program) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return expr.Run(prog, nil)
}

func unwrapRuntime(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Prev != nil {
			return fe.Prev
		}
		return errors.New(fe.Message)
	}
	return err
}

// constString evaluates a constant argument that must be a string.
func (c *compiler) constString(n ast.Node, what string) (string, error) {
	if !c.isConst(n) {
		return "", c.errNode(n, "%s must be a constant string", what)
	}
	v, err := c.constEval(n)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", c.errNode(n, "%s must be a string, got %T", what, v)
	}
	return s, nil
}

// constDays evaluates a window argument: a constant whole number of days.
func (c *compiler) constDays(n ast.Node) (int64, error) {
	if !c.isConst(n) {
		return 0, c.errNode(n, "the window must be a constant number of days")
	}
	v, err := c.constEval(n)
	if err != nil {
		return 0, err
	}
	d, ok := v.(int)
	if !ok {
		return 0, c.errNode(n, "the window must be a whole number of days, got %T", v)
	}
	if d < 1 || d > maxWindowDays {
		return 0, c.errNode(n, "the window must be between 1 and %d days, got %d", maxWindowDays, d)
	}
	return int64(d), nil
}

const maxWindowDays = 36500

type operandKind uint8

const (
	opBool operandKind = iota
	opNum
	opDays
	opStr
	opCount
	opStep
)

// operand is a per-friend value: a column the plan can index.
type operand struct {
	kind operandKind
	leaf node   // opBool
	num  numRef // opNum, opDays (the time column)
	str  strRef // opStr
	ev   eventKey
	days int64  // opCount window, 0 for ever
	name string // opStep scenario
	desc string
}

func (c *compiler) operand(n ast.Node) (operand, error) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		switch n.Value {
		case "following":
			c.wide = true
			return operand{kind: opBool, leaf: &followingLeaf{}, desc: n.Value}, nil
		case "blocked":
			c.wide = true
			return operand{kind: opBool, leaf: &blockedLeaf{}, desc: n.Value}, nil
		case "followed_days":
			return operand{kind: opDays, num: numRef{kind: numFollowedAt, typ: stepcast.FieldTime, name: "followed_at"}, desc: n.Value}, nil
		case "followed_at":
			return operand{kind: opNum, num: numRef{kind: numFollowedAt, typ: stepcast.FieldTime, name: "followed_at"}, desc: n.Value}, nil
		}
		f, ok := c.schema.field(n.Value)
		if !ok {
			return operand{}, c.errNode(n, "unknown name %s", n.Value)
		}
		switch f.Type {
		case stepcast.FieldBool:
			return operand{kind: opBool, leaf: &boolLeaf{field: f, val: true}, desc: f.Name}, nil
		case stepcast.FieldString, stepcast.FieldChoice:
			return operand{kind: opStr, str: strRef{kind: strField, field: f}, desc: f.Name}, nil
		default:
			return operand{kind: opNum, num: numRef{kind: numField, id: f.id, name: f.Name, typ: f.Type}, desc: f.Name}, nil
		}
	case *ast.CallNode:
		return c.call(n)
	}
	return operand{}, c.errNode(n, "%s is not supported here; compare a field, score or count with a constant", describe(n))
}

func (c *compiler) call(n *ast.CallNode) (operand, error) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return operand{}, c.errNode(n, "only the segment functions can be called")
	}
	fn, args := id.Value, n.Arguments
	str := func(i int, what string) (string, error) { return c.constString(args[i], what) }
	// window returns the optional trailing days argument.
	window := func(i int) (int64, error) {
		if i < len(args) {
			return c.constDays(args[i])
		}
		return 0, nil
	}
	event := func(kind, name, value string, days int64) (operand, error) {
		if !c.schema.events[kind] {
			return operand{}, c.errNode(args[0], "the schema does not count %q events (declare the kind in SchemaConfig.Events)", kind)
		}
		key := eventKey{kind: kind, name: name, value: value}
		return operand{kind: opBool, leaf: &eventLeaf{key: key, days: days, lo: 1, hi: math.MaxInt64}}, nil
	}
	switch fn {
	case "tag":
		name, err := str(0, "the tag name")
		if err != nil {
			return operand{}, err
		}
		if name == "" {
			return operand{}, c.errNode(args[0], "the tag name is empty")
		}
		return operand{kind: opBool, leaf: &tagLeaf{name: name}}, nil
	case "has", "days_since":
		name, err := str(0, "the field name")
		if err != nil {
			return operand{}, err
		}
		f, ok := c.schema.field(name)
		if !ok {
			return operand{}, c.errNode(args[0], "unknown field %q", name)
		}
		if fn == "has" {
			return operand{kind: opBool, leaf: &hasLeaf{field: f}}, nil
		}
		if f.Type != stepcast.FieldTime {
			return operand{}, c.errNode(args[0], "days_since needs a time field; %s is %v", f.Name, f.Type)
		}
		return operand{kind: opDays, num: numRef{kind: numField, id: f.id, name: f.Name, typ: stepcast.FieldTime}}, nil
	case "clicked", "converted":
		name, err := str(0, "the name")
		if err != nil {
			return operand{}, err
		}
		days, err := window(1)
		if err != nil {
			return operand{}, err
		}
		kind := map[string]string{"clicked": "click", "converted": "conversion"}[fn]
		return event(kind, name, "", days)
	case "answered":
		q, err := str(0, "the question")
		if err != nil {
			return operand{}, err
		}
		value, rest := "", 1
		if len(args) > 1 && args[1].Type() != nil && args[1].Type().Kind() == reflect.String {
			if value, err = str(1, "the answer"); err != nil {
				return operand{}, err
			}
			rest = 2
		}
		days, err := window(rest)
		if err != nil {
			return operand{}, err
		}
		return event("answer", q, value, days)
	case "did", "count":
		kind, err := str(0, "the event kind")
		if err != nil {
			return operand{}, err
		}
		name, err := str(1, "the event name")
		if err != nil {
			return operand{}, err
		}
		days, err := window(2)
		if err != nil {
			return operand{}, err
		}
		op, err := event(kind, name, "", days)
		if err != nil || fn == "did" {
			return op, err
		}
		return operand{kind: opCount, ev: op.leaf.(*eventLeaf).key, days: days, desc: "count(…)"}, nil
	case "score":
		name, err := str(0, "the score name")
		if err != nil {
			return operand{}, err
		}
		i, ok := c.schema.scores[name]
		if !ok {
			return operand{}, c.errNode(args[0], "unknown score %q", name)
		}
		return operand{kind: opNum, num: numRef{kind: numScore, id: i, name: name, typ: stepcast.FieldInt}}, nil
	case "in_scenario", "scenario_step":
		name, err := str(0, "the scenario name")
		if err != nil {
			return operand{}, err
		}
		if fn == "in_scenario" {
			return operand{kind: opBool, leaf: &scenarioLeaf{name: name}}, nil
		}
		return operand{kind: opStep, name: name}, nil
	case "variant":
		name, err := str(0, "the experiment name")
		if err != nil {
			return operand{}, err
		}
		return operand{kind: opStr, str: strRef{kind: strVariant, name: name}}, nil
	case "segment":
		name, err := str(0, "the segment name")
		if err != nil {
			return operand{}, err
		}
		return c.saved(args[0], name)
	}
	return operand{}, c.errNode(n, "%s(…) is not supported in a segment", fn)
}

func (c *compiler) saved(at ast.Node, name string) (operand, error) {
	if c.savedSrc != nil {
		if _, ok := c.savedSrc[name]; !ok {
			return operand{}, c.errNode(at, "unknown saved segment %q", name)
		}
		if err := c.visit(name); err != nil {
			return operand{}, err
		}
	}
	seg, ok := c.schema.saved[name]
	if !ok {
		return operand{}, c.errNode(at, "unknown saved segment %q", name)
	}
	c.wide = c.wide || seg.wide
	c.depth = max(c.depth, seg.depth)
	return operand{kind: opBool, leaf: &savedNode{name: name, kid: seg.root}}, nil
}

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
			return nil, c.errNode(at, "cannot compare %v with %T", x.str, v)
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
	e := c.errNode(at, "the empty string is not a value of %v (setting %v to \"\" unsets it)", ref, ref)
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
	return c.errNode(at, "%q is not a choice of %s (choices: %s)", v, ref.field.Name, strings.Join(ref.field.Choices, ", "))
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
				return nil, c.errNode(b.Right, "%v is a string; the list has a %T", x.str, rv.Index(i).Interface())
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
	arg, err := c.constString(b.Right, "the right side of "+b.Operator)
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
			return nil, c.errNode(b.Right, "bad regular expression: %v", err)
		}
		l.op, l.re = strMatches, re
	}
	return l, nil
}

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
