// Package config decodes a pipeline file into the values the Go API uses
// (router.Pipeline, router.RetryPolicy, middleware.Schedule): one model, two
// front ends. Decoding is strict — unknown keys, mistyped values and unknown
// component types are errors that name the file, line, field and what is
// allowed — and every problem in a file is reported at once.
package config

import (
	"cmp"
	"errors"
	"fmt"
	_ "github.com/tributary-dev/tributary/components/builtin" // the built-in source and sink types, which a file names
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/routing"
)

// FileSpec is the shape of a pipeline file. Its options are the Go API's
// own types (router.BackendConfig, router.DedupPolicy, router.RetryPolicy,
// routing.FilterSpec, …), decoded and validated by their own yaml tags and
// Validate methods; only what a file writes differently from the Go API
// (a component's type and options, an order_by expression) is spelt here.
type FileSpec struct {
	Backend   *router.BackendConfig `yaml:"backend"`
	Pipelines []PipelineSpec        `yaml:"pipelines"`
}

// PipelineSpec is one pipeline: sources → options → sinks.
type PipelineSpec struct {
	Name    string             `yaml:"name"`
	Sources []ComponentSpec    `yaml:"sources"`
	Dedup   router.DedupPolicy `yaml:"dedup"`
	Retry   router.RetryPolicy `yaml:"retry"`
	Sinks   []SinkSpec         `yaml:"sinks"`
}

// ComponentSpec is a source or sink: a name, a registered type and the
// type's own options.
type ComponentSpec struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Topic is passed to a sink's Publish; the name when empty. Sources
	// read what their options say and ignore it (accepted so that older
	// files load).
	Topic   string   `yaml:"topic"`
	Options ast.Node `yaml:"options"`
}

// SinkSpec is a sink, which may override the pipeline's retry policy and
// filter and shape the events it gets. A sink's `retry:` block is its one
// retry schedule: the sink itself has none.
type SinkSpec struct {
	ComponentSpec `yaml:",inline"`
	Retry         *router.RetryPolicy    `yaml:"retry"`
	Filter        *routing.FilterSpec    `yaml:"filter"`
	Transform     *routing.TransformSpec `yaml:"transform"`
	// OrderBy is the expression (routing.NewOrderKey) that becomes
	// router.Sink's OrderKey; Lanes and OnFailure are router.Sink's.
	OrderBy   string               `yaml:"order_by"`
	Lanes     int                  `yaml:"lanes"`
	OnFailure router.FailurePolicy `yaml:"on_failure"`
	// Concurrency is router.Sink's: deliveries under way at once (1, the
	// default, keeps topic order; with order_by, lanes worked here).
	Concurrency int `yaml:"concurrency"`
}

// Config is a decoded, validated file.
type Config struct {
	File string
	// Backend is the validated backend: Type is never empty.
	Backend   router.BackendConfig
	Pipelines []Pipeline
}

// Pipeline is a router.Pipeline whose sources and sinks are not built yet.
type Pipeline struct {
	// Template has every field set except Subscriber and Publisher.
	Template router.Pipeline
	// SourceTypes and SinkTypes parallel Template.Sources and .Sinks.
	SourceTypes []components.Decoded
	SinkTypes   []components.Decoded
	// SinkHeaders parallels Template.Sinks: the headers each sink's
	// transform sets (header → metadata key), for components.Env.
	SinkHeaders []map[string]string
	// SinkRoutes parallels Template.Sinks: what each filter and transform
	// says, for `tributary route`.
	SinkRoutes []Route
}

// LoadFile reads, interpolates (${ENV}) and validates a pipeline file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(path, data, os.LookupEnv)
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

const nameRule = "want 1–63 lower-case letters, digits, '-' or '_', starting with a letter or digit"

// Load decodes data (named file in messages); lookup resolves ${NAME}.
// Every problem is reported, in file order: only a file that is not YAML at
// all stops at the first.
func Load(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	c := newChecker(file)
	tokens, err := c.tokenize(data)
	if err != nil {
		return nil, err
	}
	f, err := parser.Parse(tokens, 0)
	if err != nil {
		return nil, c.goccyError(err, "")
	}
	if len(f.Docs) != 1 || f.Docs[0] == nil || isNull(f.Docs[0].Body) {
		return nil, Errors{{File: file, Line: 1, Column: 1, Msg: "the file must hold one YAML document with a `pipelines:` list"}}
	}
	body := f.Docs[0].Body
	errs := c.prune(c.interpolateTree(body, "", c.lookupRecording(lookup)))
	cerrs, ok := c.check(body, reflect.TypeOf(FileSpec{}), "")
	errs = append(errs, c.prune(cerrs)...)
	var spec FileSpec
	if ok {
		if err := yaml.NodeToValue(body, &spec, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
			es, _ := AsErrors(c.goccyError(err, ""))
			return nil, c.hideEnv(sorted(append(errs, es...)))
		}
	}
	cfg, berrs := c.build(body, spec)
	if errs = append(errs, berrs...); len(errs) > 0 {
		return nil, c.hideEnv(sorted(errs))
	}
	return cfg, nil
}

// sorted orders problems by position, as they appear in the file.
func sorted(errs Errors) Errors {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return errs
}

// node finds the node at path (e.g. pipelines[0].name), or the nearest
// ancestor that exists, so that every error has a position. A missing key
// is reported at the first key of the mapping it is missing from.
func (c checker) node(root ast.Node, path string) ast.Node {
	for p := path; p != ""; p = parent(p) {
		if n := lookup(root, p); n != nil {
			if p != path {
				return firstKey(n)
			}
			return n
		}
	}
	if path != "" {
		return firstKey(root)
	}
	return root
}

// lookup returns the node at path as written in the file, nil when absent.
func lookup(root ast.Node, path string) ast.Node {
	yp, err := yaml.PathString("$." + path)
	if err != nil {
		return nil
	}
	n, err := yp.FilterNode(root)
	if err != nil {
		return nil
	}
	return n
}

// firstKey returns a mapping's first key, n itself for anything else.
func firstKey(n ast.Node) ast.Node {
	if ps, ok := pairs(n); ok && len(ps) > 0 {
		return ps[0].Key
	}
	return n
}

func parent(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '.' || p[i] == '[' {
			return p[:i]
		}
	}
	return ""
}

func (c checker) goccyError(err error, field string) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		return Errors{errAtToken(c.file, ye.GetToken(), field, ye.GetMessage())}
	}
	return Errors{{File: c.file, Field: field, Msg: err.Error()}}
}

// optionsDecoder implements components.Options for one options block.
type optionsDecoder struct {
	c    checker
	node ast.Node
	path string
}

func (o optionsDecoder) Decode(v any) error {
	if isNull(o.node) {
		return nil
	}
	rt := reflect.TypeOf(v)
	if rt.Kind() != reflect.Pointer {
		return fmt.Errorf("options: Decode needs a pointer, got %T", v)
	}
	// Decode what passes the check even when something does not, so that
	// the type's Validate still runs on the rest (see components.Decode).
	errs, ok := o.c.check(o.node, rt.Elem(), o.path)
	errs = o.c.prune(errs)
	if ok {
		if err := yaml.NodeToValue(o.node, v, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
			es, _ := AsErrors(o.c.goccyError(err, o.path))
			errs = append(errs, o.c.prune(es)...)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// build turns the decoded spec into pipelines and decodes each component's
// options; a problem at or below a path the tree checks already reported is
// not reported again.
func (c checker) build(root ast.Node, spec FileSpec) (*Config, Errors) {
	var errs Errors
	at := c.at(&errs, root, c.node)
	// required words a missing list ("required") apart from an empty one.
	required := func(path, what, types string) {
		if lookup(root, path) != nil {
			at(path, "no %ss; want at least one%s", what, types)
		} else {
			at(path, "required; want a list of at least one %s%s", what, types)
		}
	}
	if len(spec.Pipelines) == 0 {
		required("pipelines", "pipeline", "")
	}
	cfg := &Config{File: c.file, Backend: router.BackendConfig{Type: router.BackendPostgres}}
	if b := spec.Backend; b != nil {
		errs = append(errs, c.optionErrors(root, "backend", b.Validate())...)
		if b.Type == router.BackendJetStream {
			cfg.Backend = *b
		}
	}
	names := map[string]bool{}
	for i, ps := range spec.Pipelines {
		pp := "pipelines[" + strconv.Itoa(i) + "]"
		p := Pipeline{Template: router.Pipeline{Name: ps.Name}}
		checkName(at, pp+".name", ps.Name, "", "pipeline %q is defined twice; names must be unique", names)

		if len(ps.Sources) == 0 {
			required(pp+".sources", "source", " (types: "+describe(components.Types(components.KindSource))+")")
		}
		if len(ps.Sinks) == 0 {
			required(pp+".sinks", "sink", " (types: "+describe(components.Types(components.KindSink))+")")
		}
		seen := map[string]bool{}
		for j, s := range ps.Sources {
			sp := pp + ".sources[" + strconv.Itoa(j) + "]"
			d, ok := c.component(root, components.KindSource, s, sp, seen, &errs)
			if ok {
				p.Template.Sources = append(p.Template.Sources, router.Source{Name: s.Name})
				p.SourceTypes = append(p.SourceTypes, d)
			}
		}
		seen = map[string]bool{}
		for j, s := range ps.Sinks {
			sp := pp + ".sinks[" + strconv.Itoa(j) + "]"
			d, ok := c.component(root, components.KindSink, s.ComponentSpec, sp, seen, &errs)
			sink := router.Sink{Name: s.Name, Topic: s.Topic, Retry: resolvePreset(s.Retry)}
			route, headers, rerrs := c.routing(root, s, sp)
			errs = append(errs, rerrs...)
			if len(headers) > 0 && s.Type != "" && !components.SendsHeaders(s.Type) {
				c.at(&errs, root, c.keyNode)(sp+".transform.headers", "sink type %q sends no headers; only %s sinks do", s.Type, headerSinkTypes())
			}
			sink.Filter, sink.Transform = route.filter, route.transform
			errs = append(errs, c.ordering(root, s, sp, cfg.Backend.Type, &sink)...)
			errs = append(errs, c.optionErrors(root, sp, sink.ValidateOptions())...)
			if ok {
				p.Template.Sinks = append(p.Template.Sinks, sink)
				p.SinkTypes = append(p.SinkTypes, d)
				p.SinkHeaders = append(p.SinkHeaders, headers)
				p.SinkRoutes = append(p.SinkRoutes, route)
			}
		}
		errs = append(errs, c.optionErrors(root, pp+".dedup", ps.Dedup.Validate())...)
		errs = append(errs, c.optionErrors(root, pp+".retry", ps.Retry.Validate())...)
		p.Template.Dedup, p.Template.Retry = ps.Dedup, *resolvePreset(&ps.Retry)
		cfg.Pipelines = append(cfg.Pipelines, p)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

func (c checker) component(root ast.Node, kind components.Kind, s ComponentSpec, path string, seen map[string]bool, errs *Errors) (components.Decoded, bool) {
	at := c.at(errs, root, c.node)
	ok := checkName(at, path+".name", s.Name, string(kind)+" ", string(kind)+" %q is named twice in this pipeline; names must be unique", seen)
	if s.Type == "" {
		at(path+".type", "required; want one of %s", describe(components.Types(kind)))
		return components.Decoded{}, false
	}
	d, err := components.Decode(kind, s.Type, optionsDecoder{c: c, node: s.Options, path: path + ".options"})
	if err != nil {
		var unknown components.ErrUnknownType
		switch {
		case errors.As(err, &unknown):
			at(path+".type", "unknown %s type %q; want one of %s", kind, s.Type, describe(components.Types(kind)))
		default:
			// The options decoder's own problems come first (already
			// positioned and pruned); then Validate's, at the key each
			// names, unless that key was reported already.
			fields, rest := tributary.OptionErrors(err)
			var other []error
			for _, e := range rest {
				if es, isPos := AsErrors(e); isPos {
					*errs = append(*errs, es...)
				} else {
					other = append(other, e)
				}
			}
			for _, fe := range fields {
				at(path+".options."+fe.Key, "%s", fe.Msg)
			}
			for _, e := range other {
				at(path+".options", "%s type %q: %v", kind, s.Type, e)
			}
		}
		return components.Decoded{}, false
	}
	return d, ok
}

// checkName reports a name that is missing, breaks nameRule (the message
// starting with prefix) or is in seen (dup, given the name), and adds it to
// seen.
func checkName(at func(path, format string, args ...any), path, name, prefix, dup string, seen map[string]bool) bool {
	defer func() { seen[name] = true }()
	switch {
	case name == "":
		at(path, "required; %s", nameRule)
	case !namePattern.MatchString(name):
		at(path, "%sname %q: %s", prefix, name, nameRule)
	case seen[name]:
		at(path, dup, name)
	default:
		return true
	}
	return false
}

// at returns a func that adds a problem at a path not covered yet to errs,
// at the node find gives for it.
func (c checker) at(errs *Errors, root ast.Node, find func(ast.Node, string) ast.Node) func(path, format string, args ...any) {
	return func(path, format string, args ...any) {
		if !c.covered(path) {
			*errs = append(*errs, errAt(c.file, find(root, path), path, format, args...))
		}
	}
}

// optionErrors positions the *tributary.OptionError values of err (a
// Validate's) at base + their key, at the value written there (the block's
// first key when the key is not written). Anything else is reported at base.
func (c checker) optionErrors(root ast.Node, base string, err error) Errors {
	var out Errors
	at := c.at(&out, root, c.node)
	fields, rest := tributary.OptionErrors(err)
	for _, fe := range fields {
		p := base
		if fe.Key != "" {
			p += "." + fe.Key
		}
		at(p, "%s", fe.Msg)
	}
	for _, e := range rest {
		at(base, "%v", e)
	}
	return out
}

// resolvePreset returns r with a named preset turned into its schedule
// (what the router would do), so that a loaded pipeline shows the
// schedule it runs; a preset that does not parse is left for Validate.
func resolvePreset(r *router.RetryPolicy) *router.RetryPolicy {
	if r == nil {
		return nil
	}
	out := *r
	if out.Preset != "" && out.Schedule.Kind == "" {
		if sched, err := middleware.ParseSchedule(out.Preset); err == nil {
			out.Schedule, out.Preset = sched, ""
		}
	}
	return &out
}

// headerSinkTypes lists the sink types registered with
// components.SendHeaders, for an error message.
func headerSinkTypes() string {
	var out []string
	for _, t := range components.Types(components.KindSink) {
		if components.SendsHeaders(t) {
			out = append(out, t)
		}
	}
	return strings.Join(out, ", ")
}
