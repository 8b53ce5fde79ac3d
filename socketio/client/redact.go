package client

import (
	"errors"
	"net/url"
	"strings"
)

// redacted replaces every secret in logs and errors.
const redacted = "[REDACTED]"

// redactor knows the tokens a client has used; the token rides in the dial
// URL, so net/http and websocket errors would otherwise carry it.
type redactor struct {
	secrets []string
}

func (r *redactor) add(s string) {
	if s == "" {
		return
	}
	for _, old := range r.secrets {
		if old == s {
			return
		}
	}
	r.secrets = append(r.secrets, s)
	// Keep a bounded history: a long-running client renews often.
	if len(r.secrets) > 16 {
		r.secrets = r.secrets[len(r.secrets)-16:]
	}
}

func (r *redactor) string(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redacted)
		if q := url.QueryEscape(sec); q != sec {
			s = strings.ReplaceAll(s, q, redacted)
		}
	}
	return s
}

// redactedError carries a redacted message. It does not unwrap to the
// original (which may print the token) but remembers the sentinel kinds so
// errors.Is still works for them.
type redactedError struct {
	msg  string
	kind error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.kind }

func (r *redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.string(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, kind: kindOf(err)}
}

// redactURL hides the values of the query parameters named in params, and
// any user:password in the URL.
func redactURL(u *url.URL, params ...string) string {
	c := *u
	c.User = nil
	q := c.Query()
	for _, p := range params {
		if q.Has(p) {
			q.Set(p, "REDACTED")
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}

// kindOf returns the first sentinel in err's chain, for redacted errors and
// for the metric label.
func kindOf(err error) error {
	for _, k := range sentinels {
		if errors.Is(err, k.err) {
			return k.err
		}
	}
	return nil
}
