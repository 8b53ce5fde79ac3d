package routing

import (
	"errors"
	"fmt"
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
	src              []string
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
			t.exclude = append(t.exclude, g)
		} else {
			t.include = append(t.include, g)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// MatchType reports whether an event of type typ passes.
func (t *TypePatterns) MatchType(typ string) bool {
	if len(t.include) > 0 {
		ok := false
		for _, g := range t.include {
			if typ != "" && g.match(typ) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, g := range t.exclude {
		if typ != "" && g.match(typ) {
			return false
		}
	}
	return true
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
