package config

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/routing"
)

// Route is what the file says of a sink's filter and transform (for
// `tributary route`), and their compiled funcs (set on the sink).
type Route struct {
	// Types and Expr are the filter as written (${ENV} not interpolated: a
	// page or a command that shows them shows no secret); Body and Headers
	// the transform.
	Types   []string
	Expr    string
	Body    string
	Headers []string

	filter    func(*message.Message) (bool, error)
	transform func(*message.Message) (*message.Message, error)
}

// routing compiles a sink's filter and transform; every problem is reported
// at its key, and an expression's at its own line and column in the file.
func (c checker) routing(root ast.Node, s SinkSpec, path string) (Route, map[string]string, Errors) {
	var r Route
	var errs Errors
	at := c.at(&errs, root, c.keyNode)
	if f := s.Filter; f != nil {
		fp := path + ".filter"
		r.Expr = c.written(root, fp+".expr", f.Expr)
		for i, t := range f.Types {
			r.Types = append(r.Types, c.written(root, fp+".types["+strconv.Itoa(i)+"]", t))
		}
		if len(f.Types) == 0 && strings.TrimSpace(f.Expr) == "" && !c.covered(fp) {
			at(fp, "empty filter; want types (e.g. [\"door.*\", \"!door.input.*\"]) and/or expr")
		}
		typesOK := true
		for i, t := range f.Types {
			if _, err := routing.CompileTypes(t); err != nil {
				typesOK = false
				at(fp+".types["+strconv.Itoa(i)+"]", "%s", strings.TrimPrefix(err.Error(), "types[0]: "))
			}
		}
		spec := *f
		if !typesOK {
			spec.Types = nil
		}
		flt, err := routing.NewFilter(spec)
		if err != nil {
			errs = append(errs, c.exprErrors(root, fp, err)...)
		} else if typesOK && (len(f.Types) > 0 || f.Expr != "") {
			r.filter = flt.Match
		}
	}
	var headers map[string]string
	if t := s.Transform; t != nil {
		tp := path + ".transform"
		r.Body = t.Body
		r.Headers = slices.Sorted(maps.Keys(t.Headers))
		if t.Body == "" && len(t.Headers) == 0 && !c.covered(tp) {
			at(tp, "empty transform; want body (an expression yielding the JSON to send) and/or headers")
		}
		tr, err := routing.NewTransform(*t)
		if err != nil {
			errs = append(errs, c.exprErrors(root, tp, err)...)
		} else if t.Body != "" || len(t.Headers) > 0 {
			r.transform = tr.Apply
			headers = tr.MetadataHeaders()
		}
	}
	return r, headers, errs
}

// ordering compiles a sink's order_by into sink.OrderKey and sets its
// lanes, on_failure and concurrency (router.Sink.ValidateOptions checks
// them).
func (c checker) ordering(root ast.Node, s SinkSpec, path, backend string, sink *router.Sink) Errors {
	var errs Errors
	at := c.at(&errs, root, c.keyNode)
	sink.Lanes, sink.OnFailure, sink.Concurrency = s.Lanes, s.OnFailure, s.Concurrency
	if s.OrderBy == "" {
		return errs
	}
	if backend == router.BackendJetStream {
		at(path+".order_by", "ordered lanes need the postgres backend: a JetStream consumer keeps order only one message at a time (see docs/ordering.md)")
	}
	k, err := routing.NewOrderKey(s.OrderBy)
	if err != nil {
		// Reported here; a key that never fails stands in, so that
		// ValidateOptions still checks lanes and on_failure.
		sink.OrderKey = func(*message.Message) (string, error) { return "", nil }
		return append(errs, c.exprErrors(root, path, err)...)
	}
	sink.OrderKey = k.Key
	return errs
}

// exprErrors positions the *routing.Error values err holds.
func (c checker) exprErrors(root ast.Node, base string, err error) Errors {
	var out Errors
	for _, e := range flatten(err) {
		var re *routing.Error
		if !errors.As(e, &re) {
			c.at(&out, root, c.node)(base, "%v", e)
			continue
		}
		p, n := base+"."+re.Field, c.valueNode(root, base, re.Field)
		if c.covered(p) {
			continue
		}
		fe := errAt(c.file, n, p, "%s", re.Msg)
		if n == nil {
			fe = errAt(c.file, c.node(root, base), p, "%s", re.Msg)
		}
		if n != nil && re.Line > 0 {
			fe.Line, fe.Column = exprPosition(n, re.Line, re.Column)
		}
		out = append(out, fe)
	}
	return out
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// valueNode finds the value node of field ("expr", "body" or
// "headers.<name>") below base; header names are looked up among the
// mapping's keys, as they need not be valid path segments.
func (c checker) valueNode(root ast.Node, base, field string) ast.Node {
	name, header := strings.CutPrefix(field, "headers.")
	if !header {
		return lookup(root, base+"."+field)
	}
	ps, _ := pairs(lookup(root, base+".headers"))
	for _, p := range ps {
		if k, ok := unwrap(p.Key).(*ast.StringNode); ok && k.Value == name {
			return p.Value
		}
	}
	return nil
}

// exprPosition maps line and column (1-based) within the expression held by
// node n to the file: a plain scalar starts at its token, a quoted one a
// character later, a block scalar on the line after its indicator at its
// indentation. (Escapes in a double-quoted scalar and folding shift columns;
// the line is still right for single-line expressions.)
func exprPosition(n ast.Node, line, col int) (int, int) {
	n = unwrap(n)
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	if lit, ok := n.(*ast.LiteralNode); ok {
		indent := 0
		if lit.Value != nil {
			if vt := lit.Value.GetToken(); vt != nil {
				first := vt.Origin
				indent = len(first) - len(strings.TrimLeft(first, " "))
			}
		}
		return tk.Position.Line + line, indent + col
	}
	start := tk.Position.Column
	if tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType {
		start++
	}
	if line == 1 {
		return tk.Position.Line, start + col - 1
	}
	return tk.Position.Line + line - 1, col
}

// keyNode returns the key of the mapping entry at path (a problem with a
// whole block is reported where the block is named), else c.node's answer.
func (c checker) keyNode(root ast.Node, path string) ast.Node {
	i := strings.LastIndexByte(path, '.')
	if i < 0 || strings.HasSuffix(path, "]") {
		return c.node(root, path)
	}
	ps, _ := pairs(lookup(root, path[:i]))
	for _, p := range ps {
		if k, ok := unwrap(p.Key).(*ast.StringNode); ok && k.Value == path[i+1:] {
			return p.Key
		}
	}
	return c.node(root, path)
}
