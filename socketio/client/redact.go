package client

import (
	"net/url"
	"slices"
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
	if s == "" || slices.Contains(r.secrets, s) {
		return
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
	return &redactedError{msg: msg, kind: sentinel(err).err}
}

// redactURL hides the value of the query parameter param, and any
// user:password in the URL.
func redactURL(u *url.URL, param string) string {
	c := *u
	c.User = nil
	q := c.Query()
	if q.Has(param) {
		q.Set(param, "REDACTED")
	}
	c.RawQuery = q.Encode()
	return c.String()
}
