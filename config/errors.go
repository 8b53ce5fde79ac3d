package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Error is one problem in a pipeline file, at a line and column, in a field
// (a path such as pipelines[0].sinks[1].retry.schedule.kind).
type Error struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Field  string `json:"field"`
	Msg    string `json:"message"`
}

func (e *Error) Error() string {
	field := e.Field
	if field == "" {
		field = "(top level)"
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, field, e.Msg)
}

// Errors is every problem found in a file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// AsErrors returns err's positioned problems, if it carries any.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}, true
	}
	return nil, false
}

func errAt(file string, node ast.Node, field, format string, args ...any) *Error {
	var tk *token.Token
	if node != nil {
		tk = node.GetToken()
	}
	return errAtToken(file, tk, field, fmt.Sprintf(format, args...))
}

func errAtToken(file string, tk *token.Token, field, msg string) *Error {
	e := &Error{File: file, Field: field, Msg: msg}
	if tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	return e
}
