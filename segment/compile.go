package segment

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"

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
// The language is expr's syntax over the schema's names:
//
//	gender == "female", area in [...]    string and choice fields
//	name startsWith "山", memo contains "VIP", code matches "^A[0-9]+$", name < "m"
//	age in 30..39, spend >= 5000         int and float fields (a float range is the closed interval)
//	birthday < date("2000-01-01")        time fields
//	vip, vip == false                    bool fields
//	following, blocked                   follow status; blocked: followed once, not following now
//	followed_days <= 6, followed_at      calendar days since the last follow; its time
//
// and these functions, whose arguments are constants:
//
//	tag("interest/beauty")               the friend has the tag
//	has("age")                           the field has a value
//	days_since("last_visit") >= 30       calendar days since a time field
//	clicked("url"), clicked("url", 7)    a click ever, or within the last 7 calendar days (today included)
//	answered("q1"), answered("q1", "yes"), answered("q1", "yes", 30)
//	                                     an answer to the question (that answer), ever or within the window
//	converted("purchase", 30)            a conversion, ever or within the window
//	did("click", "url", 30)              an event of a kind the schema counts, ever or within the window
//	count("click", "url", 30) >= 3       the number of events, ever or within the window
//	score("lead") >= 10                  a score (0 until changed)
//	in_scenario("trial")                 the friend is in the scenario
//	scenario_entered("trial", 7)         the friend entered the scenario (began a run), ever or within the window
//	scenario_finished("trial")           a run of the scenario went through (completed, its goal, a branch's end), ever or within the window
//	scenario_exited("trial", 30)         a run of the scenario ended early (stopped, exit condition, blocked, switched, restarted), ever or within the window
//	scenario_step("trial") >= 2          the step reached in the scenario (non-members read -1)
//	variant("welcome") == "B"            the friend's variant in the experiment
//	segment("vip")                       a saved segment
//	date("2000-01-01")                   the first instant of that day in the schema's time zone
//	datetime("2026-11-01 09:00")         a time: RFC 3339, or local to the schema's time zone
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
// Limits: a source is at most MaxSourceLen bytes (16 KiB) of valid UTF-8
// and MaxNodes (2000) syntax nodes. Constant strings follow the input
// limits, since no input beyond them could ever match: names (tags, event
// kinds, names and the question of answered, fields, scores, scenarios,
// experiments, saved segments) at most stepcast.MaxNameLen bytes, values
// (compared with string fields, choices and variants, answers, the right
// side of the string predicates) at most stepcast.MaxTextLen, neither
// holding a NUL byte; the *Error for one beyond them wraps
// stepcast.ErrInvalid. Errors quote at most a short prefix of the source
// (see Error). Saved segments are compiled once, by NewSchema, and
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
			seg, err = nil, &Error{Line: 1, Column: 1, Message: clip(fmt.Sprintf("internal error compiling the expression: %v", r), maxExprMessage)}
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
		// The caret goes under the first rune that does not fit whole.
		cut := MaxSourceLen
		for cut > 0 && !utf8.RuneStart(c.src[cut]) {
			cut--
		}
		return nil, c.errAt(file.Location{From: utf8.RuneCountInString(c.src[:cut])},
			"expression is %d bytes long; the limit is %d", len(c.src), MaxSourceLen)
	}
	if !utf8.ValidString(c.src) {
		return nil, c.errInvalidUTF8()
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
			fe.Message = clip(fe.Message, maxExprMessage)
			return nil, newError(c.name, c.src, fe)
		}
		return nil, &Error{Segment: c.name, Line: 1, Column: 1, Message: clip(err.Error(), maxExprMessage)}
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
	bind(c.src, fe)
	return newError(c.name, c.src, fe)
}

// errInvalidUTF8 refuses a source that is not valid UTF-8, with the caret
// under the first bad byte. expr's lexer would read each bad byte as
// U+FFFD, so a constant written with one would silently mean another text
// than the one written, and no input (valid UTF-8 only) holds the one
// written.
func (c *compiler) errInvalidUTF8() *Error {
	from := 0
	for i, r := range c.src {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(c.src[i:]); size == 1 {
				break
			}
		}
		from++
	}
	e := c.errAt(file.Location{From: from}, "the expression is not valid UTF-8")
	e.err.Wrap(fmt.Errorf("%w: segment expression is not valid UTF-8", stepcast.ErrInvalid))
	return e
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
			return nil, c.errNode(n, "expected a condition, got the constant %s", constText(v))
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
			return operand{}, c.errNode(n, "unknown name %s", clip(n.Value, 60))
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
