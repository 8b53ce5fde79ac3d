package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/tributary-dev/tributary/internal/redact"
)

// checker compares a YAML tree with the Go type it will be decoded into and
// reports, with positions, what goccy's decoder would report less precisely
// or not at all: unknown keys (with the allowed ones), duplicate keys,
// mistyped scalars and bad durations. Decoding runs only on a tree that passed.
//
// It reports every problem, not just the first: what it reports it also
// prunes from the tree (an unknown or repeated key is removed, a mistyped
// value becomes null) so that the rest still decodes and the later checks
// (names, types, options, schedules) still run. Their problems at or below
// a path already reported are dropped, so a mistyped value is not also
// "required".
type checker struct {
	file string
	// interpolated marks string nodes whose value came from ${ENV}, with
	// their text as written: they take the type of the field they fill
	// (count: ${N} is an integer), and what shows a value shows the text.
	interpolated map[*ast.StringNode]string
	// pruned holds the paths reported while interpolating and checking.
	pruned map[string]bool
	// env holds the environment variables interpolated, name → value: a
	// problem never quotes their values (often secrets), only their names
	// (see hideEnv).
	env map[string]string
}

func newChecker(file string) checker {
	return checker{file: file, interpolated: map[*ast.StringNode]string{}, pruned: map[string]bool{}, env: map[string]string{}}
}

// lookupRecording wraps lookup to record each variable it resolves.
func (c checker) lookupRecording(lookup func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := lookup(name)
		if ok {
			c.env[name] = v
		}
		return v, ok
	}
}

// written returns the text as written at path (`${TOKEN}` rather than its
// value) when the string there was interpolated, else value.
func (c checker) written(root ast.Node, path, value string) string {
	if sn, ok := unwrap(c.node(root, path)).(*ast.StringNode); ok {
		if src, ok := c.interpolated[sn]; ok && sn.Value == value {
			return src
		}
	}
	return value
}

// hideEnv replaces, in every problem's message, the value of each variable
// interpolated with its name (`"${TOKEN}" is not a duration`): a secret put
// in the wrong field is not printed. Short values (under 8 bytes) of
// variables whose names do not look like credentials are left, so that
// `${ENABLED}` = "true" does not turn "want true or false" into nonsense.
func (c checker) hideEnv(errs Errors) Errors {
	var forms [][]string // a form of a value, and ${NAME}
	for name, v := range c.env {
		if len(v) < 8 && !redact.SecretEnvName.MatchString(name) {
			continue
		}
		for _, f := range redact.Forms(v) {
			forms = append(forms, []string{f, "${" + name + "}"})
		}
	}
	// Longest first, so that a value containing another is replaced whole.
	slices.SortFunc(forms, func(a, b []string) int { return len(b[0]) - len(a[0]) })
	r := strings.NewReplacer(slices.Concat(forms...)...)
	for _, e := range errs {
		e.Msg = r.Replace(e.Msg)
	}
	return errs
}

// covered reports whether path is at, below or above a path already
// reported: a problem there is most likely a consequence of the pruning
// (a schedule missing the step that was pruned, an options block missing a
// key that was), and the problem that caused it is already reported.
func (c checker) covered(path string) bool {
	for p := range c.pruned {
		if within(path, p) || within(p, path) {
			return true
		}
	}
	return false
}

// within reports whether path is at or below ancestor.
func within(path, ancestor string) bool {
	if ancestor == "" || path == ancestor {
		return true
	}
	return strings.HasPrefix(path, ancestor) && (path[len(ancestor)] == '.' || path[len(ancestor)] == '[')
}

// prune keeps the problems not covered by earlier ones and records their
// paths as reported.
func (c checker) prune(errs Errors) Errors {
	var out Errors
	for _, e := range errs {
		if !c.covered(e.Field) {
			out = append(out, e)
		}
	}
	for _, e := range out {
		c.pruned[e.Field] = true
	}
	return out
}

// null is the value a pruned node is replaced with, at its position.
func null(n ast.Node) ast.Node {
	var pos *token.Position
	if tk := n.GetToken(); tk != nil {
		pos = tk.Position
	}
	return ast.Null(token.New("null", "null", pos))
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	timeType     = reflect.TypeOf(time.Time{})
	nodeType     = reflect.TypeOf((*ast.Node)(nil)).Elem()
)

// unwrap skips tags and anchors to the value they decorate.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		default:
			return n
		}
	}
}

func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := unwrap(n).(*ast.NullNode)
	return ok
}

// pairs returns a mapping's key/value pairs; ok is false for a non-mapping.
func pairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := unwrap(n).(type) {
	case *ast.MappingNode:
		return v.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

// structKeys maps the keys goccy maps onto t's fields (the yaml tag, else
// the json tag, else the lower-cased field name; inline structs merged) to
// their types.
func structKeys(t reflect.Type) map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "" {
			tag = f.Tag.Get("json")
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			maps.Copy(keys, structKeys(ft))
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = f.Type
	}
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n ast.Node) string {
	switch unwrap(n).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.AliasNode:
		return "an alias"
	}
	return "a value"
}

// check returns every mismatch between node and t, pruning as it goes (see
// checker). ok is false when node itself cannot be decoded into t: the
// caller replaces it with null.
func (c checker) check(node ast.Node, t reflect.Type, path string) (errs Errors, ok bool) {
	if isNull(node) || t == nodeType || t.Kind() == reflect.Interface {
		return nil, true
	}
	n := unwrap(node)
	if _, ok := n.(*ast.AliasNode); ok {
		return nil, true // goccy resolves aliases; their target was checked where it stands
	}
	if t.Kind() == reflect.Pointer {
		return c.check(node, t.Elem(), path)
	}
	bad := func(format string, args ...any) (Errors, bool) {
		return Errors{errAt(c.file, n, path, format, args...)}, false
	}
	if t == durationType {
		s, ok := n.(*ast.StringNode)
		if !ok {
			return bad("got %s; want a duration such as 500ms, 5s, 10m or 1h30m", kindName(n))
		}
		if _, err := time.ParseDuration(s.Value); err != nil {
			return bad("%q is not a duration; want a number with a unit (ns, us, ms, s, m, h), such as 500ms, 5s, 10m or 1h30m", s.Value)
		}
		return nil, true
	}
	if t == timeType {
		// goccy would turn a string it cannot parse into the zero time.
		s, ok := n.(*ast.StringNode)
		if !ok {
			return bad("got %s; want an RFC 3339 time such as 2026-01-02T15:04:05Z", kindName(n))
		}
		if _, err := time.Parse(time.RFC3339Nano, s.Value); err != nil {
			return bad("%q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", s.Value)
		}
		return nil, true
	}
	switch t.Kind() {
	case reflect.Struct:
		ps, ok := pairs(n)
		if !ok {
			return bad("got %s; want a mapping", kindName(n))
		}
		keys := structKeys(t)
		seen := map[string]bool{}
		kept := ps[:0:0]
		for _, p := range ps {
			key := p.Key.String()
			if k, ok := unwrap(p.Key).(*ast.StringNode); ok {
				key = k.Value
			}
			if _, ok := p.Key.(*ast.MergeKeyNode); ok {
				kept = append(kept, p)
				continue
			}
			ft, known := keys[key]
			if !known {
				errs = append(errs, errAt(c.file, p.Key, join(path, key), "unknown key %q;%s allowed here: %s", key, didYouMean(key, keys), allowed(keys)))
				continue
			}
			if seen[key] {
				errs = append(errs, errAt(c.file, p.Key, join(path, key), "key %q given twice", key))
				continue
			}
			seen[key] = true
			kept = append(kept, p)
			errs = append(errs, c.checkValue(&p.Value, ft, join(path, key))...)
		}
		if len(kept) < len(ps) {
			m, isMapping := n.(*ast.MappingNode)
			if !isMapping {
				return errs, false // a lone key: nothing left of the mapping
			}
			m.Values = kept
		}
		return errs, true
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			return bad("got %s; want a list", kindName(n))
		}
		for i := range seq.Values {
			errs = append(errs, c.checkValue(&seq.Values[i], t.Elem(), path+"["+strconv.Itoa(i)+"]")...)
		}
		return errs, true
	case reflect.Map:
		ps, ok := pairs(n)
		if !ok {
			return bad("got %s; want a mapping", kindName(n))
		}
		for _, p := range ps {
			errs = append(errs, c.checkValue(&p.Value, t.Elem(), join(path, p.Key.String()))...)
		}
		return errs, true
	case reflect.String:
		switch n.(type) {
		case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
			return bad("got %s; want a string", kindName(n))
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
			// YAML would turn 0123 into 83 and yes into true: insist on quotes.
			return bad("got %s; want a string: quote it (%q) so that it is kept as written", kindName(n), n.GetToken().Value)
		}
	case reflect.Bool:
		if _, ok := n.(*ast.BoolNode); !ok {
			return bad("got %s; want true or false", kindName(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, ok := n.(*ast.IntegerNode); !ok {
			return bad("got %s; want an integer", kindName(n))
		}
	case reflect.Float32, reflect.Float64:
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode:
		default:
			return bad("got %s; want a number", kindName(n))
		}
	}
	return nil, true
}

// checkValue checks *n (retyped) against t and replaces it with null when
// it cannot be decoded.
func (c checker) checkValue(n *ast.Node, t reflect.Type, path string) Errors {
	*n = c.retype(*n, t)
	errs, ok := c.check(*n, t, path)
	if !ok {
		*n = null(*n)
	}
	return errs
}

// retype turns an interpolated string into the scalar the target type wants
// (bool, integer, number), keeping its position, so that ${ENV} works for
// any scalar field. Anything else is returned unchanged.
func (c checker) retype(n ast.Node, t reflect.Type) ast.Node {
	sn, ok := n.(*ast.StringNode)
	if _, interpolated := c.interpolated[sn]; !ok || !interpolated {
		return n
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType || t == timeType {
		return n
	}
	pos := sn.GetToken().Position
	var out ast.Node
	switch t.Kind() {
	case reflect.Bool:
		if sn.Value == "true" || sn.Value == "false" {
			out = ast.Bool(token.New(sn.Value, sn.Value, pos))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseInt(sn.Value, 10, 64); err == nil {
			out = ast.Integer(token.New(sn.Value, sn.Value, pos))
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(sn.Value, 64); err == nil {
			out = ast.Float(token.New(sn.Value, sn.Value, pos))
		}
	}
	if out == nil {
		return n
	}
	return out
}

func allowed(keys map[string]reflect.Type) string {
	return strings.Join(slices.Sorted(maps.Keys(keys)), ", ")
}

// didYouMean is " did you mean \"k\"?" for the allowed key closest to key
// (a typo, a singular for a plural, another case), or "" when none is close:
// within half the key's length in edits, at least one.
func didYouMean(key string, keys map[string]reflect.Type) string {
	best, bestDist := "", max(1, len(key)/2)+1
	for k := range keys {
		d := levenshtein.ComputeDistance(strings.ToLower(key), strings.ToLower(k))
		if d < bestDist || best != "" && d == bestDist && k < best {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" did you mean %q?", best)
}

// describe is used in messages that list allowed values.
func describe(values []string) string {
	if len(values) == 0 {
		return "(none registered)"
	}
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(quoted, ", ")
}
