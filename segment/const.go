package segment

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	exprcompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/stepcast/stepcast"
)

// Constants: subexpressions that mention nothing that varies per friend
// are folded by expr itself.

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
		if id, ok := n.Callee.(*ast.IdentifierNode); !ok || !isFolded(id.Value) {
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
		return nil, c.errNode(n, "cannot evaluate constant: %s", clip(err.Error(), maxExprMessage))
	}
	v, err := runConst(prog)
	if err != nil {
		return nil, c.errNode(n, "%s", clip(unwrapRuntime(err).Error(), maxExprMessage))
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

// constString evaluates a constant argument that must be a string of at
// most max bytes (see checkText).
func (c *compiler) constString(n ast.Node, what string, max int) (string, error) {
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
	if err := c.checkText(n, what, s, max); err != nil {
		return "", err
	}
	return s, nil
}

// checkText refuses a constant string that no input can hold, so that a
// condition on it could never hold: text that is not valid UTF-8, holds a
// NUL byte or is longer than max bytes — stepcast.MaxNameLen for names
// (tags, event kinds and names, fields, scores, scenarios, experiments,
// saved segments), stepcast.MaxTextLen for values (compared with string
// fields, choices and variants, answers, string predicates), the limits
// input is checked against where it enters. The *Error is positioned at n
// and wraps stepcast.ErrInvalid.
func (c *compiler) checkText(n ast.Node, what, s string, max int) error {
	err := stepcast.CheckText(what, s, max)
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), stepcast.ErrInvalid.Error()+": ")
	e := c.errNode(n, "%s, so it can never match", msg)
	e.err.Wrap(err)
	return e
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
