// Package namedlog is a watermill logger that adds a component's name to
// every line, the name being learnt after the logger is built: a source is
// told its name by the router (router.Instrumented, after NewSource), while
// its goroutines or HTTP handler may log already. Loggers derived with With
// follow the name too.
package namedlog

import (
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
)

// Logger adds key=name to every line once SetName has given a name.
type Logger struct {
	inner watermill.LoggerAdapter
	key   string
	name  *atomic.Pointer[string] // shared with the loggers With derives
}

// New wraps inner (nil: no logging), adding key once SetName gives a name.
func New(inner watermill.LoggerAdapter, key string) *Logger {
	if inner == nil {
		inner = watermill.NopLogger{}
	}
	return &Logger{inner: inner, key: key, name: new(atomic.Pointer[string])}
}

// SetName names the component in every line from now on; safe for
// concurrent use.
func (l *Logger) SetName(name string) { l.name.Store(&name) }

// Name is the name SetName gave, or "".
func (l *Logger) Name() string {
	if n := l.name.Load(); n != nil {
		return *n
	}
	return ""
}

func (l *Logger) fields(f watermill.LogFields) watermill.LogFields {
	n := l.Name()
	if n == "" {
		return f
	}
	return watermill.LogFields{l.key: n}.Add(f)
}

func (l *Logger) Error(msg string, err error, f watermill.LogFields) {
	l.inner.Error(msg, err, l.fields(f))
}
func (l *Logger) Info(msg string, f watermill.LogFields)  { l.inner.Info(msg, l.fields(f)) }
func (l *Logger) Debug(msg string, f watermill.LogFields) { l.inner.Debug(msg, l.fields(f)) }
func (l *Logger) Trace(msg string, f watermill.LogFields) { l.inner.Trace(msg, l.fields(f)) }

// With returns a logger with fields added that still follows SetName.
func (l *Logger) With(f watermill.LogFields) watermill.LoggerAdapter {
	return &Logger{inner: l.inner.With(f), key: l.key, name: l.name}
}
