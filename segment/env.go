package segment

import (
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/conf"

	"github.com/stepcast/stepcast"
)

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
	// The checker uses the functions for type checking only: the compiler
	// translates every call into a plan node, or folds it as a constant
	// (constOptions), so none of them ever runs per friend.
	for _, f := range functions {
		opts = append(opts, expr.Function(f.name, notCallable, f.types...))
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
// same checker view, with the functions of constants implemented.
func (s *Schema) constOptions() []expr.Option {
	opts := []expr.Option{
		expr.Env(s.env),
		expr.DisableAllBuiltins(),
		expr.Optimize(false),
	}
	for _, f := range functionIndex {
		if fold := f.fold; fold != nil {
			opts = append(opts, expr.Function(f.name, func(a ...any) (any, error) { return fold(s.loc, a) }, f.types...))
		}
	}
	return opts
}
