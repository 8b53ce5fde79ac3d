package brokers

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
)

// Redactor hides a broker URL's credentials in whatever the broker's client
// says: errors, log lines and the delivery log never carry a password.
type Redactor struct {
	secrets []string
}

// NewRedactor returns a Redactor for a broker URL: its password and user
// info, and the whole URL (replaced by its redacted form, RedactURL).
func NewRedactor(rawURL string) *Redactor {
	r := &Redactor{}
	u, err := url.Parse(rawURL)
	if err != nil {
		// Unparsable: hide it whole.
		if rawURL != "" {
			r.secrets = append(r.secrets, rawURL)
		}
		return r
	}
	if u.User != nil {
		r.secrets = append(r.secrets, rawURL, u.User.String())
		if p, ok := u.User.Password(); ok && p != "" {
			r.secrets = append(r.secrets, p, url.PathEscape(p), url.QueryEscape(p))
		}
	}
	return r
}

// RedactURL returns a URL fit to show: no password, no query (which may
// carry one); an unparsable one as "(invalid url)".
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(invalid url)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery = ""
	return u.String()
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		if sec == "" {
			continue
		}
		repl := "[redacted]"
		if strings.Contains(sec, "://") {
			repl = RedactURL(sec)
		}
		s = strings.ReplaceAll(s, sec, repl)
	}
	return s
}

// Error returns err with its text redacted (nil for nil); errors.Is and
// errors.As still see what it wraps.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Logger wraps l so that nothing it logs carries a secret: the message,
// the error and every string field are redacted. A nil l is a NopLogger.
func (r *Redactor) Logger(l watermill.LoggerAdapter) watermill.LoggerAdapter {
	if l == nil {
		l = watermill.NopLogger{}
	}
	return &redactingLogger{inner: l, r: r}
}

type redactingLogger struct {
	inner watermill.LoggerAdapter
	r     *Redactor
}

func (l *redactingLogger) fields(f watermill.LogFields) watermill.LogFields {
	out := make(watermill.LogFields, len(f))
	for k, v := range f {
		switch v := v.(type) {
		case string:
			out[k] = l.r.String(v)
		case error:
			out[k] = l.r.Error(v)
		case nil, bool, int, int64, uint64, float64:
			out[k] = v
		default:
			// A struct may hold a connection string: log its redacted text.
			out[k] = l.r.String(fmt.Sprintf("%+v", v))
		}
	}
	return out
}

func (l *redactingLogger) Error(msg string, err error, f watermill.LogFields) {
	l.inner.Error(l.r.String(msg), l.r.Error(err), l.fields(f))
}
func (l *redactingLogger) Info(msg string, f watermill.LogFields) {
	l.inner.Info(l.r.String(msg), l.fields(f))
}
func (l *redactingLogger) Debug(msg string, f watermill.LogFields) {
	l.inner.Debug(l.r.String(msg), l.fields(f))
}
func (l *redactingLogger) Trace(msg string, f watermill.LogFields) {
	l.inner.Trace(l.r.String(msg), l.fields(f))
}
func (l *redactingLogger) With(f watermill.LogFields) watermill.LoggerAdapter {
	return &redactingLogger{inner: l.inner.With(l.fields(f)), r: l.r}
}
