package segment

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"

	"github.com/stepcast/stepcast"
)

// The functions of the segment language, each declared once, in the
// manner of expr's builtin table.
//
// An entry says everything the package knows about a function: the
// signatures expr's checker types its calls with, how the compiler turns a
// call into an operand (a leaf, or a column that a comparison turns into
// one) or, for a function of constants, how constant folding evaluates it,
// and its line in Compile's documentation. From the table come the
// checker's declarations (Schema.exprOptions), the constant folder's
// (Schema.constOptions), the names a schema may not use (checkName), the
// compiler's dispatch (compiler.call) and what counts as a constant
// (constVisitor). Tests check Compile's documentation and README.md's
// table of the language against it.
//
// Adding a function is adding an entry, then pasting its documentation
// line into Compile's comment (TestCompileDocListsFunctions prints the
// list) and mentioning it in README.md's table of the language
// (TestREADMEListsFunctions). A new kind of leaf goes in a leaf_*.go file
// and must implement every method of node, index and record evaluation
// alike, or the package does not compile.
var functions = []function{
	{
		name:  "tag",
		types: sigs(new(func(string) bool)),
		compile: func(k call) (operand, error) {
			name, err := k.str(0, "the tag name")
			if err != nil {
				return operand{}, err
			}
			if name == "" {
				return operand{}, k.errArg(0, "the tag name is empty")
			}
			return boolOp(&tagLeaf{name: name}), nil
		},
		uses:  []string{`tag("interest/beauty")`},
		means: "the friend has the tag",
	},
	{
		name:  "has",
		types: sigs(new(func(string) bool)),
		compile: func(k call) (operand, error) {
			f, err := k.field(0)
			if err != nil {
				return operand{}, err
			}
			return boolOp(&hasLeaf{field: f}), nil
		},
		uses:  []string{`has("age")`},
		means: "the field has a value",
	},
	{
		name:  "days_since",
		types: sigs(new(func(string) int)),
		compile: func(k call) (operand, error) {
			f, err := k.field(0)
			if err != nil {
				return operand{}, err
			}
			if f.Type != stepcast.FieldTime {
				return operand{}, k.errArg(0, "days_since needs a time field; %s is %v", f.Name, f.Type)
			}
			return operand{kind: opDays, num: numRef{kind: numField, id: f.id, name: f.Name, typ: stepcast.FieldTime}}, nil
		},
		uses:  []string{`days_since("last_visit") >= 30`},
		means: "calendar days since a time field",
	},
	{
		name:    "clicked",
		types:   sigs(new(func(string) bool), new(func(string, int) bool)),
		compile: named("click"),
		uses:    []string{`clicked("url")`, `clicked("url", 7)`},
		means:   "a click ever, or within the last 7 calendar days (today included)",
	},
	{
		name: "answered",
		types: sigs(new(func(string) bool), new(func(string, string) bool),
			new(func(string, int) bool), new(func(string, string, int) bool)),
		compile: func(k call) (operand, error) {
			q, err := k.str(0, "the question")
			if err != nil {
				return operand{}, err
			}
			value, rest := "", 1
			if len(k.args) > 1 && k.args[1].Type() != nil && k.args[1].Type().Kind() == reflect.String {
				if value, err = k.text(1, "the answer"); err != nil {
					return operand{}, err
				}
				rest = 2
			}
			days, err := k.window(rest)
			if err != nil {
				return operand{}, err
			}
			key, err := k.event("answer", q, value)
			if err != nil {
				return operand{}, err
			}
			return happened(key, days), nil
		},
		uses:  []string{`answered("q1")`, `answered("q1", "yes")`, `answered("q1", "yes", 30)`},
		means: "an answer to the question (that answer), ever or within the window",
	},
	{
		name:    "converted",
		types:   sigs(new(func(string) bool), new(func(string, int) bool)),
		compile: named("conversion"),
		uses:    []string{`converted("purchase", 30)`},
		means:   "a conversion, ever or within the window",
	},
	{
		name:  "did",
		types: sigs(new(func(string, string) bool), new(func(string, string, int) bool)),
		compile: func(k call) (operand, error) {
			key, days, err := k.kindNameWindow()
			if err != nil {
				return operand{}, err
			}
			return happened(key, days), nil
		},
		uses:  []string{`did("click", "url", 30)`},
		means: "an event of a kind the schema counts, ever or within the window",
	},
	{
		name:  "count",
		types: sigs(new(func(string, string) int), new(func(string, string, int) int)),
		compile: func(k call) (operand, error) {
			key, days, err := k.kindNameWindow()
			if err != nil {
				return operand{}, err
			}
			return operand{kind: opCount, ev: key, days: days, desc: "count(…)"}, nil
		},
		uses:  []string{`count("click", "url", 30) >= 3`},
		means: "the number of events, ever or within the window",
	},
	{
		name:  "score",
		types: sigs(new(func(string) int)),
		compile: func(k call) (operand, error) {
			name, err := k.str(0, "the score name")
			if err != nil {
				return operand{}, err
			}
			i, ok := k.c.schema.scores[name]
			if !ok {
				return operand{}, k.errArg(0, "unknown score %s", stepcast.Quote(name))
			}
			return operand{kind: opNum, num: numRef{kind: numScore, id: i, name: name, typ: stepcast.FieldInt}}, nil
		},
		uses:  []string{`score("lead") >= 10`},
		means: "a score (0 until changed)",
	},
	{
		name:  "in_scenario",
		types: sigs(new(func(string) bool)),
		compile: func(k call) (operand, error) {
			name, err := k.str(0, "the scenario name")
			if err != nil {
				return operand{}, err
			}
			return boolOp(&scenarioLeaf{name: name}), nil
		},
		uses:  []string{`in_scenario("trial")`},
		means: "the friend is in the scenario",
	},
	{
		name:    "scenario_entered",
		types:   sigs(new(func(string) bool), new(func(string, int) bool)),
		compile: journey("entered"),
		uses:    []string{`scenario_entered("trial", 7)`},
		means:   "the friend entered the scenario (began a run), ever or within the window",
	},
	{
		name:    "scenario_finished",
		types:   sigs(new(func(string) bool), new(func(string, int) bool)),
		compile: journey("finished"),
		uses:    []string{`scenario_finished("trial")`},
		means:   "a run of the scenario went through (completed, its goal, a branch's end), ever or within the window",
	},
	{
		name:    "scenario_exited",
		types:   sigs(new(func(string) bool), new(func(string, int) bool)),
		compile: journey("exited"),
		uses:    []string{`scenario_exited("trial", 30)`},
		means:   "a run of the scenario ended early (stopped, exit condition, blocked, switched, restarted), ever or within the window",
	},
	{
		name:  "scenario_step",
		types: sigs(new(func(string) int)),
		compile: func(k call) (operand, error) {
			name, err := k.str(0, "the scenario name")
			if err != nil {
				return operand{}, err
			}
			return operand{kind: opStep, name: name}, nil
		},
		uses:  []string{`scenario_step("trial") >= 2`},
		means: "the step reached in the scenario (non-members read -1)",
	},
	{
		name:  "variant",
		types: sigs(new(func(string) string)),
		compile: func(k call) (operand, error) {
			name, err := k.str(0, "the experiment name")
			if err != nil {
				return operand{}, err
			}
			return operand{kind: opStr, str: strRef{kind: strVariant, name: name}}, nil
		},
		uses:  []string{`variant("welcome") == "B"`},
		means: "the friend's variant in the experiment",
	},
	{
		name:  "segment",
		types: sigs(new(func(string) bool)),
		compile: func(k call) (operand, error) {
			name, err := k.str(0, "the segment name")
			if err != nil {
				return operand{}, err
			}
			return k.c.saved(k.args[0], name)
		},
		uses:  []string{`segment("vip")`},
		means: "a saved segment",
	},
	{
		name:  "date",
		types: sigs(new(func(string) time.Time)),
		fold: func(loc *time.Location, args []any) (any, error) {
			return parseDate(args[0].(string), loc)
		},
		uses:  []string{`date("2000-01-01")`},
		means: "the first instant of that day in the schema's time zone",
	},
	{
		name:  "datetime",
		types: sigs(new(func(string) time.Time)),
		fold: func(loc *time.Location, args []any) (any, error) {
			return parseDateTime(args[0].(string), loc)
		},
		uses:  []string{`datetime("2026-11-01 09:00")`},
		means: "a time: RFC 3339, or local to the schema's time zone",
	},
}

// function is an entry of the table of functions.
type function struct {
	name string
	// types are the signatures the checker accepts, as expr.Function
	// takes them.
	types []any
	// compile translates a call the checker accepted into an operand. nil
	// for a function of constants only.
	compile func(call) (operand, error)
	// fold evaluates a call whose arguments are constants, in the schema's
	// time zone, for constant folding. nil for a function that varies per
	// friend; those are never called.
	fold func(loc *time.Location, args []any) (any, error)
	// uses are example calls and means what they mean: the function's line
	// in Compile's documentation (see docLine).
	uses  []string
	means string
}

func sigs(types ...any) []any { return types }

// functionIndex finds an entry of functions by name. It is filled by init,
// so that the compile functions of the table may use it without making
// the table depend on itself.
var functionIndex map[string]*function

func init() {
	functionIndex = make(map[string]*function, len(functions))
	for i := range functions {
		functionIndex[functions[i].name] = &functions[i]
	}
}

func isFunctionName(name string) bool { return functionIndex[name] != nil }

// isFolded reports whether name is a function of constants only.
func isFolded(name string) bool {
	f := functionIndex[name]
	return f != nil && f.fold != nil
}

var errNotCallable = errors.New("segment: functions are translated, not called")

func notCallable(...any) (any, error) { return nil, errNotCallable }

// docColumn is where the meaning starts in a documentation line.
const docColumn = 37

// docLine is the function's entry in Compile's documentation: the uses,
// then the meaning from docColumn, on a line of its own if the uses reach
// that far.
func (f *function) docLine() string {
	uses := strings.Join(f.uses, ", ")
	if n := utf8.RuneCountInString(uses); n < docColumn {
		return uses + strings.Repeat(" ", docColumn-n) + f.means
	}
	return uses + "\n" + strings.Repeat(" ", docColumn) + f.means
}

// call translates a call of a segment function into an operand.
func (c *compiler) call(n *ast.CallNode) (operand, error) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return operand{}, c.errNode(n, "only the segment functions can be called")
	}
	f := functionIndex[id.Value]
	if f == nil || f.compile == nil {
		return operand{}, c.errNode(n, "%s(…) is not supported in a segment", id.Value)
	}
	return f.compile(call{c: c, args: n.Arguments})
}

// call is a call being compiled: its arguments, typed by the checker.
type call struct {
	c    *compiler
	args []ast.Node
}

func (k call) errArg(i int, format string, args ...any) *Error {
	return k.c.errNode(k.args[i], format, args...)
}

// str returns argument i, a constant string naming something: a tag, an
// event kind or name, a field, score, scenario, experiment or saved
// segment (at most stepcast.MaxNameLen bytes, see checkText).
func (k call) str(i int, what string) (string, error) {
	return k.c.constString(k.args[i], what, stepcast.MaxNameLen)
}

// text returns argument i, a constant string value (at most
// stepcast.MaxTextLen bytes, see checkText).
func (k call) text(i int, what string) (string, error) {
	return k.c.constString(k.args[i], what, stepcast.MaxTextLen)
}

// field returns the field that argument i names.
func (k call) field(i int) (*fieldInfo, error) {
	name, err := k.str(i, "the field name")
	if err != nil {
		return nil, err
	}
	f, ok := k.c.schema.field(name)
	if !ok {
		return nil, k.errArg(i, "unknown field %s", stepcast.Quote(name))
	}
	return f, nil
}

// window returns the optional days argument i: 0 (ever) if absent.
func (k call) window(i int) (int64, error) {
	if i < len(k.args) {
		return k.c.constDays(k.args[i])
	}
	return 0, nil
}

// event returns the key of the events of kind, name and value, if the
// schema counts that kind.
func (k call) event(kind, name, value string) (eventKey, error) {
	if !k.c.schema.events[kind] {
		return eventKey{}, k.errArg(0, "the schema does not count %s events (declare the kind in SchemaConfig.Events)", stepcast.Quote(kind))
	}
	return eventKey{kind: kind, name: name, value: value}, nil
}

// kindNameWindow reads the arguments (kind, name[, days]) of did and count.
func (k call) kindNameWindow() (eventKey, int64, error) {
	kind, err := k.str(0, "the event kind")
	if err != nil {
		return eventKey{}, 0, err
	}
	name, err := k.str(1, "the event name")
	if err != nil {
		return eventKey{}, 0, err
	}
	days, err := k.window(2)
	if err != nil {
		return eventKey{}, 0, err
	}
	key, err := k.event(kind, name, "")
	return key, days, err
}

// named compiles a function (name[, days]) asking for an event of kind.
func named(kind string) func(call) (operand, error) {
	return func(k call) (operand, error) {
		name, err := k.str(0, "the name")
		if err != nil {
			return operand{}, err
		}
		days, err := k.window(1)
		if err != nil {
			return operand{}, err
		}
		key, err := k.event(kind, name, "")
		if err != nil {
			return operand{}, err
		}
		return happened(key, days), nil
	}
}

// JourneyKind is the event kind under which the engine records a friend's
// way through scenarios (stepcast.EventJourney): the scenario_entered,
// scenario_finished and scenario_exited functions count its events, so a
// schema that uses them counts that kind.
const JourneyKind = "journey"

// journey compiles a function (scenario[, days]) asking whether the
// friend's journey through the scenario recorded what.
func journey(what string) func(call) (operand, error) {
	return func(k call) (operand, error) {
		name, err := k.str(0, "the scenario name")
		if err != nil {
			return operand{}, err
		}
		days, err := k.window(1)
		if err != nil {
			return operand{}, err
		}
		key, err := k.event(JourneyKind, name, what)
		if err != nil {
			return operand{}, err
		}
		return happened(key, days), nil
	}
}

// boolOp is the operand of a condition.
func boolOp(l node) operand { return operand{kind: opBool, leaf: l} }

// happened is the condition "at least one event of key within days".
func happened(key eventKey, days int64) operand {
	return boolOp(&eventLeaf{key: key, days: days, lo: 1, hi: math.MaxInt64})
}

func (c *compiler) saved(at ast.Node, name string) (operand, error) {
	if c.savedSrc != nil {
		if _, ok := c.savedSrc[name]; !ok {
			return operand{}, c.errNode(at, "unknown saved segment %s", stepcast.Quote(name))
		}
		if err := c.visit(name); err != nil {
			return operand{}, err
		}
	}
	seg, ok := c.schema.saved[name]
	if !ok {
		return operand{}, c.errNode(at, "unknown saved segment %s", stepcast.Quote(name))
	}
	c.wide = c.wide || seg.wide
	c.depth = max(c.depth, seg.depth)
	return boolOp(&savedNode{name: name, kid: seg.root}), nil
}

// parseDate reads date("2006-01-02"): the first instant of that day in
// loc, as stepcast.ParseTime reads every time text.
func parseDate(v string, loc *time.Location) (time.Time, error) {
	if _, err := time.Parse("2006-01-02", strings.TrimSpace(v)); err != nil {
		return time.Time{}, fmt.Errorf("date(%s): want YYYY-MM-DD", stepcast.Quote(v))
	}
	return stepcast.ParseTime(v, loc)
}

// parseDateTime reads datetime(…) as stepcast.ParseTime does: RFC 3339,
// or a local date and time in loc.
func parseDateTime(v string, loc *time.Location) (time.Time, error) {
	t, err := stepcast.ParseTime(v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("datetime(%s): want %s", stepcast.Quote(v), stepcast.TimeForms)
	}
	return t, nil
}
