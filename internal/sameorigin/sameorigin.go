// Package sameorigin keeps a polling source's HTTP client on the API it was
// configured for: a redirect to another scheme or host (port included) is
// refused, so the credentials and tenant headers a source sets on every
// request (which Go's client carries over a redirect, with the Referer),
// and the trust the source puts in the answer, never go to someone else.
//
//	client := sameorigin.Client(cfg.HTTPClient, baseURL)
package sameorigin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrForeignRedirect is wrapped by the error of a request that was
// redirected off its origin.
var ErrForeignRedirect = errors.New("redirect to another host refused")

// maxRedirects is how many same-origin redirects one request follows (Go's
// default too).
const maxRedirects = 10

// Client returns a copy of c (a zero http.Client when c is nil) whose
// redirect policy refuses a redirect off base's origin, stops after 10, and
// then asks c's own policy, if any.
func Client(c *http.Client, base *url.URL) *http.Client {
	var cl http.Client
	if c != nil {
		cl = *c
	}
	inner := cl.CheckRedirect
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !Same(req.URL, base) {
			return fmt.Errorf("%w: %s", ErrForeignRedirect, req.URL.Redacted())
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if inner != nil {
			return inner(req, via)
		}
		return nil
	}
	return &cl
}

// Same reports whether u has base's scheme and host (with port).
func Same(u, base *url.URL) bool {
	return strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(u.Host, base.Host)
}
