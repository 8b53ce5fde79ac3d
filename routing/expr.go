package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/tributary-dev/tributary"
)

// Env is what an expression sees of one event (see the package doc).
type Env struct {
	ID       string            `expr:"id"`
	Type     string            `expr:"type"`
	Source   string            `expr:"source"`
	Pipeline string            `expr:"pipeline"`
	Metadata map[string]string `expr:"metadata"`
	Payload  any               `expr:"payload"`
	// Budget is what is left to this evaluation (see MaxEvalBytes); run
	// sets it, and expressions never name it.
	Budget *budget `expr:"__budget"`
}

// Error is a problem with one expression: Field names it ("expr", "body",
// "headers.X-Door"), Line and Column (1-based) locate it in the expression's
// text; both are 0 when the problem is not at one place.
type Error struct {
	Field   string
	Line    int
	Column  int
	Msg     string
	Snippet string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s (at %d:%d of the expression)", e.Field, e.Msg, e.Line, e.Column)
}

// program is a compiled expression.
type program struct {
	field string
	prog  *vm.Program
	// usesPayload is false when the expression never names payload: the
	// payload is then not decoded, so type and metadata filters cost no JSON.
	usesPayload bool
}

var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// compile compiles src for field; want is the result kind expected
// (reflect.Bool for a predicate, reflect.Interface for anything).
func compile(field, src string, want reflect.Kind) (*program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Field: field, Msg: "empty expression"}
	}
	opts := append([]expr.Option{expr.Env(Env{}), expr.MaxNodes(conf.DefaultMaxNodes)}, boundOptions...)
	if want == reflect.Bool {
		opts = append(opts, expr.AsBool())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, exprError(field, err)
	}
	usesPayload := ast.Find(p.Node(), func(n ast.Node) bool {
		id, ok := n.(*ast.IdentifierNode)
		return ok && id.Value == "payload"
	}) != nil
	return &program{field: field, prog: p, usesPayload: usesPayload}, nil
}

// exprError turns expr's error (message, position, snippet) into an *Error.
func exprError(field string, err error) *Error {
	var fe *file.Error
	if errors.As(err, &fe) {
		e := &Error{Field: field, Msg: fe.Message, Snippet: fe.Snippet}
		if fe.Snippet != "" || fe.Line > 0 {
			e.Line, e.Column = fe.Line, fe.Column+1
		}
		if e.Line == 0 && fe.From == 0 {
			e.Line, e.Column = 1, 1
		}
		return e
	}
	return &Error{Field: field, Msg: err.Error()}
}

// run evaluates p on env, within the bounds of one evaluation.
func (p *program) run(env *Env) (any, error) {
	env.Budget = newBudget()
	m := vms.Get().(*vm.VM)
	out, err := m.Run(p.prog, env)
	vms.Put(m)
	if err != nil {
		return nil, exprError(p.field, err)
	}
	return out, nil
}

// envOf builds what the expressions see of msg; the payload is decoded only
// when decode is set.
func envOf(msg *message.Message, decode bool) (*Env, error) {
	env := &Env{
		ID:       tributary.EventID(msg),
		Type:     msg.Metadata.Get(tributary.MetaEventType),
		Source:   msg.Metadata.Get(tributary.MetaSource),
		Pipeline: msg.Metadata.Get(tributary.MetaPipeline),
		Metadata: msg.Metadata,
	}
	if env.Metadata == nil {
		env.Metadata = map[string]string{}
	}
	if decode {
		if err := json.Unmarshal(msg.Payload, &env.Payload); err != nil {
			return nil, fmt.Errorf("payload is not JSON: %w", err)
		}
	}
	return env, nil
}
