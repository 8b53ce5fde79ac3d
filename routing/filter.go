package routing

import (
	"errors"
	"reflect"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// FilterSpec is a sink's filter: an event passes when its type matches Types
// (see TypePatterns; empty matches all) and Expr, a predicate, is true
// (empty is true). Types are checked first, so Expr runs only on the events
// they let through.
//
// A pipeline sink's `filter:` block decodes into it.
type FilterSpec struct {
	Types []string `yaml:"types"`
	Expr  string   `yaml:"expr"`
}

// Filter is a compiled FilterSpec. It is safe for concurrent use.
type Filter struct {
	types *TypePatterns
	pred  *program
	expr  string
}

// NewFilter compiles spec. Errors are *Error (for Expr) or name the type
// pattern at fault.
func NewFilter(spec FilterSpec) (*Filter, error) {
	types, terr := CompileTypes(spec.Types...)
	f := &Filter{types: types, expr: spec.Expr}
	var perr error
	if spec.Expr != "" {
		f.pred, perr = compile("expr", spec.Expr, reflect.Bool)
	}
	if err := errors.Join(terr, perr); err != nil {
		return nil, err
	}
	return f, nil
}

// Match implements a router.Sink filter. An error (the payload is not JSON,
// the predicate fails on this event) is the event's, not the filter's: the
// router poisons the event for this sink with it.
func (f *Filter) Match(msg *message.Message) (bool, error) {
	if !f.types.MatchType(msg.Metadata.Get(tributary.MetaEventType)) {
		return false, nil
	}
	return f.matchExpr(msg)
}

// Why says which part of the filter turns msg down: "" when it passes, else
// "types: …" (the pattern that excluded its type, or the ones it matched
// none of) or "expr is false: …". An error is Match's.
func (f *Filter) Why(msg *message.Message) (string, error) {
	if why := f.types.Why(msg.Metadata.Get(tributary.MetaEventType)); why != "" {
		return "types: " + why, nil
	}
	ok, err := f.matchExpr(msg)
	if err != nil || ok {
		return "", err
	}
	return "expr is false: " + strings.Join(strings.Fields(f.expr), " "), nil
}

// matchExpr runs the predicate (true without one).
func (f *Filter) matchExpr(msg *message.Message) (bool, error) {
	if f.pred == nil {
		return true, nil
	}
	env, err := envOf(msg, f.pred.usesPayload)
	if err != nil {
		return false, err
	}
	out, err := f.pred.run(env)
	if err != nil {
		return false, err
	}
	ok, _ := out.(bool)
	return ok, nil
}
