package pipelinetest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
)

// Logger is a watermill.LoggerAdapter that keeps every line, for tests that
// check that errors are logged clearly and that secrets are not. A line is
// "LEVEL msg err=<err> map[<fields>]", fields including those of With. The
// zero value is ready to use; loggers made by With share its lines.
type Logger struct {
	mu      sync.Mutex
	entries []string
	fields  watermill.LogFields
	parent  *Logger
}

func (l *Logger) root() *Logger {
	if l.parent != nil {
		return l.parent.root()
	}
	return l
}

func (l *Logger) keep(line string) {
	r := l.root()
	r.mu.Lock()
	r.entries = append(r.entries, line)
	r.mu.Unlock()
}

func (l *Logger) add(level, msg string, err error, f watermill.LogFields) {
	l.keep(fmt.Sprintf("%s %s err=%v %v", level, msg, err, l.fields.Add(f)))
}

// Error implements watermill.LoggerAdapter.
func (l *Logger) Error(msg string, err error, f watermill.LogFields) { l.add("ERROR", msg, err, f) }

// Info implements watermill.LoggerAdapter.
func (l *Logger) Info(msg string, f watermill.LogFields) { l.add("INFO", msg, nil, f) }

// Debug implements watermill.LoggerAdapter.
func (l *Logger) Debug(msg string, f watermill.LogFields) { l.add("DEBUG", msg, nil, f) }

// Trace implements watermill.LoggerAdapter.
func (l *Logger) Trace(msg string, f watermill.LogFields) { l.add("TRACE", msg, nil, f) }

// With implements watermill.LoggerAdapter. It also keeps a line "WITH
// map[<fields>]", so that a secret handed to With shows in String even if
// nothing is logged with it.
func (l *Logger) With(f watermill.LogFields) watermill.LoggerAdapter {
	all := l.fields.Add(f)
	l.keep(fmt.Sprintf("WITH %v", all))
	return &Logger{fields: all, parent: l}
}

// Lines returns the lines logged at level ("ERROR", "INFO", "DEBUG",
// "TRACE"), nil when none.
func (l *Logger) Lines(level string) []string {
	r := l.root()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.entries {
		if strings.HasPrefix(e, level+" ") {
			out = append(out, e)
		}
	}
	return out
}

// String returns every line logged, one a line.
func (l *Logger) String() string {
	r := l.root()
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.entries, "\n")
}
