package etagpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/tributary-dev/tributary/internal/sameorigin"
	"github.com/tributary-dev/tributary/middleware"
)

// defaultTransport is shared by every source without an HTTPClient, so that a
// thousand sources polling one API reuse a few keep-alive connections
// instead of dialling for each poll (http.DefaultTransport keeps only two
// idle connections per host).
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return t
}()

// pollError is a failed step of a poll: kind labels the metric.
type pollError struct {
	kind       string
	err        error
	retryAfter time.Duration
}

func (e *pollError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *pollError) Unwrap() error { return e.err }

func failf(kind, format string, args ...any) *pollError {
	return &pollError{kind: kind, err: fmt.Errorf(format, args...)}
}

// response is a read response: the body is whole and within MaxBodyBytes.
type response struct {
	status int
	header http.Header
	body   []byte
	url    *url.URL
}

// newClient is c (or a client on defaultTransport) refusing redirects off
// the API's origin: following one would hand the credential (an X-Api-Key
// header survives Go's redirect handling) and the cursor's trust to someone
// else.
func newClient(c *http.Client, base *url.URL) *http.Client {
	if c == nil {
		c = &http.Client{Transport: defaultTransport}
	}
	return sameorigin.Client(c, base)
}

// get performs one GET within RequestTimeout, body included. A cancelled
// parent ctx returns ctx.Err() unwrapped: that is shutdown, not a failure.
func (s *Source) get(ctx context.Context, step string, u *url.URL, etag string) (*response, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, failf("request", "build request: %v", err)
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json")
	if s.cfg.AuthValue != "" {
		req.Header.Set(s.cfg.AuthHeader, s.cfg.AuthValue)
	}
	if etag != "" {
		// Byte-for-byte as received (RFC 9110 §8.8.3): quotes and W/ kept.
		req.Header["If-None-Match"] = []string{etag}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.count(step, "error")
		return nil, s.classify(ctx, rctx, step, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxBodyBytes+1))
	if err != nil {
		s.count(step, "error")
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		kind := "truncated"
		if rctx.Err() != nil {
			kind = "timeout"
		}
		return nil, &pollError{kind: kind, err: fmt.Errorf("%s %s: status %d: reading body: %w", step, u.Path, resp.StatusCode, err)}
	}
	if int64(len(body)) > s.cfg.MaxBodyBytes {
		s.count(step, "error")
		return nil, failf("too_large", "%s %s: body exceeds %d bytes", step, u.Path, s.cfg.MaxBodyBytes)
	}
	s.count(step, fmt.Sprint(resp.StatusCode))
	return &response{status: resp.StatusCode, header: resp.Header, body: body, url: resp.Request.URL}, nil
}

func (s *Source) classify(ctx, rctx context.Context, step string, u *url.URL, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, sameorigin.ErrForeignRedirect):
		return &pollError{kind: "redirect", err: fmt.Errorf("%s: %w", step, err)}
	case rctx.Err() != nil:
		return failf("timeout", "%s %s: no complete answer within %s", step, u.Path, s.cfg.RequestTimeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return failf("timeout", "%s %s: %v", step, u.Path, err)
	}
	return failf("network", "%s %s: %v", step, u.Path, err)
}

// statusError turns a status other than the expected one into a pollError,
// carrying a Retry-After for 429 and 503.
func (s *Source) statusError(step string, r *response) *pollError {
	kind := "http_status"
	switch {
	case r.status == http.StatusTooManyRequests:
		kind = "rate_limited"
	case r.status == http.StatusServiceUnavailable:
		kind = "unavailable"
	case r.status >= 500:
		kind = "http_5xx"
	case r.status >= 400:
		kind = "http_4xx"
	}
	snippet := string(r.body)
	if len(snippet) > 160 {
		snippet = snippet[:160] + "…"
	}
	wait, _ := middleware.ParseRetryAfter(r.header, s.now())
	return &pollError{
		kind:       kind,
		err:        fmt.Errorf("%s %s: unexpected status %d: %q", step, r.url.Path, r.status, snippet),
		retryAfter: wait,
	}
}
