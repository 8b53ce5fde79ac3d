package pipelinetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

// JSONLog keeps the lines a watermill logger writes through log/slog's JSON
// handler — what the tributary binary writes — at every level, Trace
// included, so tests can check the lines as log tools will read them.
type JSONLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewJSONLogger returns a logger writing slog JSON lines into the returned JSONLog.
func NewJSONLogger() (watermill.LoggerAdapter, *JSONLog) {
	l := &JSONLog{}
	h := slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.Level(-8)}) // watermill's Trace is below Debug
	return watermill.NewSlogLogger(slog.New(h)), l
}

// Write implements io.Writer; slog writes one line per call.
func (l *JSONLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Lines returns the lines written so far.
func (l *JSONLog) Lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// String returns everything written.
func (l *JSONLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// CheckLines fails tb for every line LineProblem objects to (log tools keep
// one of two repeated keys, which one differs) and returns how many it checked.
func (l *JSONLog) CheckLines(tb testing.TB) int {
	tb.Helper()
	lines := l.Lines()
	for _, line := range lines {
		if problem := LineProblem(line); problem != "" {
			tb.Errorf("log line %s: %s", line, problem)
		}
	}
	return len(lines)
}

// LineProblem says what is wrong with one JSON log line ("" when nothing):
// not a JSON object, a key repeated within an object, or "error": null (an
// Error line that carries no error).
func LineProblem(line string) string {
	dups, err := DuplicateKeys([]byte(line))
	if err != nil {
		return "not a JSON object: " + err.Error()
	}
	if len(dups) > 0 {
		return fmt.Sprintf("key %s more than once", strings.Join(dups, ", "))
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal([]byte(line), &top)
	if v, ok := top["error"]; ok && string(bytes.TrimSpace(v)) == "null" {
		return `"error" is null`
	}
	return ""
}

// DuplicateKeys returns the keys that occur more than once within one
// object of the JSON object in line (nested keys as outer.inner), in order
// of their second occurrence. encoding/json would silently keep the last.
func DuplicateKeys(line []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not an object")
	}
	var dups []string
	if err := objectKeys(dec, "", &dups); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the object")
	}
	return dups, nil
}

// objectKeys reads an object's members after its '{' up to and including its '}'.
func objectKeys(dec *json.Decoder, prefix string, dups *[]string) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key %v is not a string", tok)
		}
		if seen[key] {
			*dups = append(*dups, prefix+key)
		}
		seen[key] = true
		if err := value(dec, prefix+key+".", dups); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// value reads one value, descending into objects and arrays.
func value(dec *json.Decoder, prefix string, dups *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return objectKeys(dec, prefix, dups)
	case json.Delim('['):
		for dec.More() {
			if err := value(dec, prefix, dups); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}
