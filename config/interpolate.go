package config

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Interpolate replaces ${NAME} with the value of environment variable NAME
// and ${NAME:-default} with the default when NAME is unset or empty. $${ is a
// literal ${. Any other $ is kept, so secrets containing $ need no escaping.
// lookup is os.LookupEnv in production.
func Interpolate(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ at offset %d; write $${ for a literal ${", i)
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s}: %q is not an environment variable name (letters, digits and _, not starting with a digit)", expr, name)
		}
		v, ok := lookup(name)
		switch {
		case ok && v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		case ok:
			// Set but empty, without a default: take it as given.
		default:
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
		}
		i += end + 1
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// interpolateTree interpolates every string value (never a key) in place.
func (c checker) interpolateTree(n ast.Node, path string, lookup func(string) (string, bool)) Errors {
	switch v := unwrap(n).(type) {
	case *ast.DocumentNode:
		return c.interpolateTree(v.Body, path, lookup)
	case *ast.MappingNode:
		var errs Errors
		for _, p := range v.Values {
			errs = append(errs, c.interpolateTree(p, path, lookup)...)
		}
		return errs
	case *ast.MappingValueNode:
		return c.interpolateTree(v.Value, join(path, v.Key.String()), lookup)
	case *ast.SequenceNode:
		var errs Errors
		for i, e := range v.Values {
			errs = append(errs, c.interpolateTree(e, fmt.Sprintf("%s[%d]", path, i), lookup)...)
		}
		return errs
	case *ast.LiteralNode:
		return c.interpolateTree(v.Value, path, lookup)
	case *ast.StringNode:
		out, err := Interpolate(v.Value, lookup)
		if err != nil {
			return Errors{errAt(c.file, v, path, "%v", err)}
		}
		if out != v.Value {
			c.interpolated[v] = v.Value
			v.Value = out
		}
	}
	return nil
}
