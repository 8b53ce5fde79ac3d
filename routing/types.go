package routing

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// TypePatterns matches event types (tributary.MetaEventType). A pattern is an
// exact type or a glob whose '*' matches any run of characters, dots and
// colons included ("door.*", "door.alarm.*.cleared", "journey:*"); a leading
// '!' excludes. An event matches when it matches at least one including
// pattern (or there is none) and no excluding one. An event without a type
// matches only a list with no including pattern.
type TypePatterns struct {
	include, exclude []glob
	// includeSrc and excludeSrc are the patterns as written, parallel to
	// include and exclude (excludeSrc with its '!').
	includeSrc, excludeSrc []string
	src                    []string
}

// glob is a pattern split at its '*'s.
type glob []string

// CompileTypes compiles type patterns; an empty list matches every event.
func CompileTypes(patterns ...string) (*TypePatterns, error) {
	t := &TypePatterns{src: patterns}
	var errs []error
	for i, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		body := strings.TrimPrefix(p, "!")
		switch {
		case strings.TrimSpace(body) == "":
			errs = append(errs, fmt.Errorf("types[%d]: empty pattern", i))
			continue
		case strings.TrimSpace(body) != body:
			errs = append(errs, fmt.Errorf("types[%d]: pattern %q has leading or trailing spaces", i, p))
			continue
		case strings.HasPrefix(body, "!"):
			errs = append(errs, fmt.Errorf("types[%d]: pattern %q: one '!' excludes; two mean nothing", i, p))
			continue
		}
		g := glob(strings.Split(body, "*"))
		if neg {
			t.exclude, t.excludeSrc = append(t.exclude, g), append(t.excludeSrc, p)
		} else {
			t.include, t.includeSrc = append(t.include, g), append(t.includeSrc, p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// MatchType reports whether an event of type typ passes.
func (t *TypePatterns) MatchType(typ string) bool {
	_, rejected := t.reject(typ)
	return !rejected
}

// Why says why an event of type typ does not pass ("" when it does): the
// excluding pattern it matches, or the including ones it matches none of.
func (t *TypePatterns) Why(typ string) string {
	by, rejected := t.reject(typ)
	switch {
	case !rejected:
		return ""
	case by != "":
		return fmt.Sprintf("type %q is excluded by %s", typ, by)
	case typ == "":
		return "the event has no type, and types lists " + strings.Join(t.includeSrc, ", ")
	}
	return fmt.Sprintf("type %q matches none of %s", typ, strings.Join(t.includeSrc, ", "))
}

// reject reports whether typ is turned down, and by which excluding pattern
// (empty when it matched no including one).
func (t *TypePatterns) reject(typ string) (excludedBy string, rejected bool) {
	matches := func(g glob) bool { return typ != "" && g.match(typ) }
	if len(t.include) > 0 && !slices.ContainsFunc(t.include, matches) {
		return "", true
	}
	for i, g := range t.exclude {
		if matches(g) {
			return t.excludeSrc[i], true
		}
	}
	return "", false
}

// Match implements a router.Sink filter.
func (t *TypePatterns) Match(msg *message.Message) (bool, error) {
	return t.MatchType(msg.Metadata.Get(tributary.MetaEventType)), nil
}

// String returns the patterns as written.
func (t *TypePatterns) String() string { return strings.Join(t.src, ", ") }

func (g glob) match(s string) bool {
	if len(g) == 1 {
		return s == g[0]
	}
	if !strings.HasPrefix(s, g[0]) {
		return false
	}
	s = s[len(g[0]):]
	last := g[len(g)-1]
	for _, part := range g[1 : len(g)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
