package tributary

import (
	"errors"
	"fmt"
)

// OptionError is a Config.Validate error about one option. Key is the
// option's path as a pipeline file writes it (its yaml tag, e.g. "interval"
// or "breaker.cooldown"; "" for the block as a whole), so that `tributary validate` can point at that
// key's line and a Go caller still reads which field is wrong. Sources and
// sinks return these from Validate, joined with errors.Join.
type OptionError struct {
	Key string
	Msg string
}

func (e *OptionError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// Option returns an *OptionError for key with a formatted message.
func Option(key, format string, args ...any) error {
	return &OptionError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Nested prefixes the keys of err's OptionErrors with prefix (a nested
// block such as "token"), keeping the others as they are; for a Config that
// validates a nested Config of its own.
func Nested(prefix string, err error) error {
	opts, rest := OptionErrors(err)
	out := make([]error, 0, len(opts)+len(rest))
	for _, o := range opts {
		key := prefix
		if o.Key != "" {
			key += "." + o.Key
		}
		out = append(out, &OptionError{Key: key, Msg: o.Msg})
	}
	return errors.Join(append(out, rest...)...)
}

// OptionErrors flattens err (an OptionError, or errors joined) into its
// OptionErrors; rest holds whatever is not one.
func OptionErrors(err error) (opts []*OptionError, rest []error) {
	if err == nil {
		return nil, nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			o, r := OptionErrors(e)
			opts, rest = append(opts, o...), append(rest, r...)
		}
		return opts, rest
	}
	var oe *OptionError
	if errors.As(err, &oe) {
		return []*OptionError{oe}, nil
	}
	return nil, []error{err}
}
