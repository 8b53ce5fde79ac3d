package routing

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// The bounds of one evaluation. expr's own memory budget counts the
// elements of the lists an expression builds (ranges, map, filter …) but
// not the bytes of the strings it builds: `s + s`, upper, replace, join,
// toJSON and string could double a string per step and take gigabytes and
// seconds for one event. So every operation that builds a string is
// rewritten, when the expression is compiled, into a call that first
// charges the bytes it will build to the evaluation's budget, and every
// iteration of a loop (all, map, filter …) checks the evaluation's
// deadline. An evaluation over either bound fails with ErrBound: the router
// poisons that event for that sink only.
const (
	// MaxEvalBytes bounds the bytes the strings built by one evaluation may
	// take, in total.
	MaxEvalBytes = 8 << 20
	// MaxEvalTime bounds one evaluation's time, checked at every string
	// operation and loop iteration (so overrun by at most one operation on
	// the event's data). Generous: an evaluation takes microseconds, and a
	// loaded machine must not poison events that are fine.
	MaxEvalTime = time.Second
)

// ErrBound is the error of an evaluation over MaxEvalBytes or MaxEvalTime.
var ErrBound = errors.New("over its bound")

// budget is what is left to one evaluation; the compiled program passes it
// (Env.Budget) to every guarded operation.
type budget struct {
	left     int
	deadline time.Time
}

func newBudget() *budget {
	return &budget{left: MaxEvalBytes, deadline: time.Now().Add(MaxEvalTime)}
}

// charge takes n bytes (the size of what op is about to build) and checks
// the deadline.
func (b *budget) charge(op string, n int) error {
	if n < 0 || n > b.left {
		return fmt.Errorf("%s would build more than the %d MiB one evaluation may: %w", op, MaxEvalBytes>>20, ErrBound)
	}
	b.left -= n
	return b.tick()
}

func (b *budget) tick() error {
	if time.Now().After(b.deadline) {
		return fmt.Errorf("evaluation took longer than %s: %w", MaxEvalTime, ErrBound)
	}
	return nil
}

const budgetName = "__budget"

var budgetType = reflect.TypeOf((*budget)(nil))

// guarded are the builtins that build strings, each with an upper bound of
// the bytes it builds from its arguments.
var guarded = map[string]func(args []any) int{
	"upper":    func(a []any) int { return 3 * strLen(a, 0) }, // invalid UTF-8 becomes U+FFFD, 3 bytes
	"lower":    func(a []any) int { return 3 * strLen(a, 0) },
	"toBase64": func(a []any) int { return 2 * strLen(a, 0) },
	"repeat": func(a []any) int { // expr counts it only once it is built
		n := -1
		if len(a) > 1 {
			switch v := a[1].(type) {
			case int:
				n = v
			case float64:
				n = int(v)
			}
		}
		if n < 0 {
			return 0 // the builtin's own error
		}
		return mul(strLen(a, 0), n)
	},
	"split":      splitSize,
	"splitAfter": splitSize,
	"replace": func(a []any) int {
		s, old, nw := str(a, 0), str(a, 1), str(a, 2)
		n := strings.Count(s, old)
		if old == "" {
			n = utf8.RuneCountInString(s) + 1
		}
		return mul(n, len(nw)) + len(s)
	},
	"join": func(a []any) int {
		n, count := textSize(first(a), 0, MaxEvalBytes+1), 0
		if v := reflect.ValueOf(first(a)); v.Kind() == reflect.Slice {
			count = v.Len()
		}
		return n + mul(count, len(str(a, 1)))
	},
	"toJSON": func(a []any) int { return textSize(first(a), 0, MaxEvalBytes+1) },
	"string": func(a []any) int { return textSize(first(a), 0, MaxEvalBytes+1) },
}

func first(a []any) any {
	if len(a) == 0 {
		return nil
	}
	return a[0]
}

func str(a []any, i int) string {
	if i < len(a) {
		s, _ := a[i].(string)
		return s
	}
	return ""
}

func strLen(a []any, i int) int { return len(str(a, i)) }

// mul is a*b, or -1 (over any budget) when it overflows.
func mul(a, b int) int {
	if a != 0 && b > (1<<62)/a {
		return -1
	}
	return a * b
}

// splitSize bounds split's list: a string header per piece.
func splitSize(a []any) int {
	s, sep := str(a, 0), str(a, 1)
	n := strings.Count(s, sep) + 1
	if sep == "" {
		n = utf8.RuneCountInString(s)
	}
	return mul(n, 16)
}

// textSize bounds the text toJSON or string (%v) makes of v, at most
// 6 bytes per byte of string (JSON's \u00XX) and 32 plus twice the depth
// (toJSON's indentation) per value; it stops counting past limit.
func textSize(v any, depth, limit int) int {
	n := 32 + 2*depth
	switch t := v.(type) {
	case string:
		return n + 6*len(t)
	case []any:
		for _, e := range t {
			if n += textSize(e, depth+1, limit-n); n > limit {
				return n
			}
		}
		return n
	case map[string]any:
		for k, e := range t {
			if n += 6*len(k) + textSize(e, depth+1, limit-n); n > limit {
				return n
			}
		}
		return n
	case nil, bool, int, float64:
		return n
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			if n += textSize(rv.Index(i).Interface(), depth+1, limit-n); n > limit {
				return n
			}
		}
	case reflect.Map:
		it := rv.MapRange()
		for it.Next() {
			if n += textSize(it.Key().Interface(), depth+1, limit-n) + textSize(it.Value().Interface(), depth+1, limit-n); n > limit {
				return n
			}
		}
	case reflect.String:
		n += 6 * rv.Len()
	}
	return n
}

// boundOptions are the compile options that put the bounds in place: the
// guarded functions and the patcher that calls them.
var boundOptions = func() []expr.Option {
	opts := []expr.Option{
		expr.Function("__add", func(p ...any) (any, error) {
			a, aok := p[1].(string)
			b, bok := p[2].(string)
			if !aok || !bok {
				return runtime.Add(p[1], p[2]), nil
			}
			if err := p[0].(*budget).charge("+", len(a)+len(b)); err != nil {
				return nil, err
			}
			return a + b, nil
		}, new(func(*budget, string, string) string), new(func(*budget, any, any) any)),
		expr.Function("__tick", func(p ...any) (any, error) {
			return p[1], p[0].(*budget).tick()
		}, new(func(*budget, bool) bool), new(func(*budget, any) any)),
	}
	for name, size := range guarded {
		fn := builtin.Builtins[builtin.Index[name]]
		var types []any
		for _, t := range fn.Types {
			in := []reflect.Type{budgetType}
			for i := range t.NumIn() {
				in = append(in, t.In(i))
			}
			out := []reflect.Type{t.Out(0)}
			types = append(types, reflect.Zero(reflect.FuncOf(in, out, t.IsVariadic())).Interface())
		}
		opts = append(opts, expr.Function("__"+name, func(p ...any) (any, error) {
			args := p[1:]
			if err := p[0].(*budget).charge(name, size(args)); err != nil {
				return nil, err
			}
			switch {
			case fn.Fast != nil:
				return fn.Fast(args[0]), nil
			case fn.Safe != nil:
				out, _, err := fn.Safe(args...)
				return out, err
			}
			return fn.Func(args...)
		}, types...))
	}
	return append(opts, expr.Patch(boundPatcher{}))
}()

// boundPatcher rewrites, in a checked tree, `a + b` on strings (or values
// of unknown type) into __add, the guarded builtins into their guarded
// calls, and every loop body into __tick(body), each given the budget.
type boundPatcher struct{}

func (boundPatcher) Visit(node *ast.Node) {
	budgetArg := func() ast.Node { return &ast.IdentifierNode{Value: budgetName} }
	call := func(name string, args ...ast.Node) *ast.CallNode {
		return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: append([]ast.Node{budgetArg()}, args...)}
	}
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator == "+" && mayBeString(n.Left) && mayBeString(n.Right) {
			ast.Patch(node, call("__add", n.Left, n.Right))
		}
	case *ast.BuiltinNode:
		if _, ok := guarded[n.Name]; ok {
			ast.Patch(node, call("__"+n.Name, n.Arguments...))
		}
	case *ast.PredicateNode:
		if c, ok := n.Node.(*ast.CallNode); ok {
			if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == "__tick" {
				return // patched already (the checker walks the tree again)
			}
		}
		n.Node = call("__tick", n.Node)
	}
}

// mayBeString reports whether n's type, as the checker found it, may be a
// string: numbers and times keep expr's own +.
func mayBeString(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}
