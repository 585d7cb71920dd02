package segment

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/conf"

	"github.com/stepcast/stepcast"
)

// The functions of the segment language and their signatures. The checker
// uses them for type checking only; the compiler translates every call into
// a plan node, so none of them ever runs per friend.
var functionSigs = map[string][]any{
	"tag":           {new(func(string) bool)},
	"has":           {new(func(string) bool)},
	"clicked":       {new(func(string) bool), new(func(string, int) bool)},
	"answered":      {new(func(string) bool), new(func(string, string) bool), new(func(string, int) bool), new(func(string, string, int) bool)},
	"converted":     {new(func(string) bool), new(func(string, int) bool)},
	"did":           {new(func(string, string) bool), new(func(string, string, int) bool)},
	"count":         {new(func(string, string) int), new(func(string, string, int) int)},
	"score":         {new(func(string) int)},
	"days_since":    {new(func(string) int)},
	"in_scenario":   {new(func(string) bool)},
	"scenario_step": {new(func(string) int)},
	"variant":       {new(func(string) string)},
	"segment":       {new(func(string) bool)},
	"date":          {new(func(string) time.Time)},
	"datetime":      {new(func(string) time.Time)},
}

func isFunctionName(name string) bool { _, ok := functionSigs[name]; return ok }

var errNotCallable = errors.New("segment: functions are translated, not called")

func notCallable(...any) (any, error) { return nil, errNotCallable }

// typeEnv is the expr environment the checker types expressions against:
// every name with a zero value of its type.
func (s *Schema) typeEnv() map[string]any {
	env := map[string]any{
		"following":     false,
		"blocked":       false,
		"followed_days": 0,
		"followed_at":   time.Time{},
	}
	for _, f := range s.fields {
		env[f.Name] = zeroOf(f.Type)
	}
	return env
}

func zeroOf(t stepcast.FieldType) any {
	switch t {
	case stepcast.FieldInt:
		return 0
	case stepcast.FieldFloat:
		return 0.0
	case stepcast.FieldBool:
		return false
	case stepcast.FieldTime:
		return time.Time{}
	default:
		return ""
	}
}

// MaxSourceLen is the longest source Compile accepts, in bytes.
const MaxSourceLen = 16 << 10

// MaxNodes is the largest number of syntax nodes Compile accepts, in one
// source; the saved segments it uses are not counted, as each is compiled
// once and evaluated at most once per query (see Compile).
const MaxNodes = 2000

// MaxSavedDepth is the longest chain of saved segments using one another
// (a uses b, b uses c, … — a, b and c make 3) that NewSchema accepts.
const MaxSavedDepth = 100

type exprOptions []expr.Option

func (s *Schema) exprOptions() exprOptions {
	opts := exprOptions{
		expr.Env(s.env),
		expr.DisableAllBuiltins(),
		expr.MaxNodes(MaxNodes),
		expr.Optimize(false),
	}
	for name, sigs := range functionSigs {
		opts = append(opts, expr.Function(name, notCallable, sigs...))
	}
	return opts
}

func (s *Schema) newConfig() *conf.Config {
	cfg := conf.CreateNew()
	for _, op := range s.opts {
		op(cfg)
	}
	for name := range cfg.Disabled {
		delete(cfg.Builtins, name)
	}
	return cfg
}

// constOptions are the options for folding constant subexpressions: the
// same checker view, with date and datetime implemented.
func (s *Schema) constOptions() []expr.Option {
	return []expr.Option{
		expr.Env(s.env),
		expr.DisableAllBuiltins(),
		expr.Optimize(false),
		expr.Function("date", func(a ...any) (any, error) { return parseDate(a[0].(string), s.loc) }, new(func(string) time.Time)),
		expr.Function("datetime", func(a ...any) (any, error) { return parseDateTime(a[0].(string), s.loc) }, new(func(string) time.Time)),
	}
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
