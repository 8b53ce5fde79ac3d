package components

import (
	"errors"
	"fmt"
)

// FieldError is a Validate error about one option: Key is its path inside
// the options block as written in the file (e.g. "interval" or
// "auth.oauth2.token_url"), so `tributary validate` can point at that key's
// line instead of the options block. Join several with errors.Join.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Field returns a *FieldError for key with a formatted message.
func Field(key, format string, args ...any) error {
	return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// FieldErrors flattens err (a FieldError, or errors joined) into its
// FieldErrors; rest holds whatever is not one.
func FieldErrors(err error) (fields []*FieldError, rest []error) {
	if err == nil {
		return nil, nil
	}
	var fe *FieldError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			f, r := FieldErrors(e)
			fields, rest = append(fields, f...), append(rest, r...)
		}
		return fields, rest
	}
	if errors.As(err, &fe) {
		return []*FieldError{fe}, nil
	}
	return nil, []error{err}
}
