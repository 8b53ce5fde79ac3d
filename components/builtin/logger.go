package builtin

import (
	"maps"

	"github.com/ThreeDotsLabs/watermill"
)

// knownFields is a logger that drops fields it already carries with the
// same value. components.Env.Logger has "source": name, and the provider packages add
// their own "source" too: without this every line of theirs would carry the
// key twice, which JSON log tools read inconsistently.
type knownFields struct {
	inner watermill.LoggerAdapter
	known map[string]string
}

// withKnownFields wraps l, which already carries known.
func withKnownFields(l watermill.LoggerAdapter, known map[string]string) watermill.LoggerAdapter {
	if l == nil {
		return nil
	}
	return &knownFields{inner: l, known: known}
}

func (k *knownFields) strip(f watermill.LogFields) watermill.LogFields {
	out := f
	for key, v := range f {
		if have, ok := k.known[key]; ok && v == any(have) {
			if len(out) == len(f) {
				out = maps.Clone(f) // f is the caller's
			}
			delete(out, key)
		}
	}
	return out
}

func (k *knownFields) Error(msg string, err error, f watermill.LogFields) {
	k.inner.Error(msg, err, k.strip(f))
}
func (k *knownFields) Info(msg string, f watermill.LogFields)  { k.inner.Info(msg, k.strip(f)) }
func (k *knownFields) Debug(msg string, f watermill.LogFields) { k.inner.Debug(msg, k.strip(f)) }
func (k *knownFields) Trace(msg string, f watermill.LogFields) { k.inner.Trace(msg, k.strip(f)) }

func (k *knownFields) With(f watermill.LogFields) watermill.LoggerAdapter {
	return &knownFields{inner: k.inner.With(k.strip(f)), known: k.known}
}
