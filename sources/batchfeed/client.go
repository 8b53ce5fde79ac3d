package batchfeed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/tributary-dev/tributary/internal/namedlog"
	"github.com/tributary-dev/tributary/internal/sameorigin"
	"github.com/tributary-dev/tributary/middleware"
)

// Client speaks the feed API for one feed.
type Client struct {
	cfg    Config
	base   string // …/eventnotifications/v2/{feedId}
	logger watermill.LoggerAdapter
	named  *namedlog.Logger // logger's root; holds the source's name (Source.Instrument)
	// metrics are its source's (Source.Instrument).
	metrics atomic.Pointer[feedMetrics]
}

// NewClient returns a Client for cfg.FeedID.
func NewClient(cfg Config, logger watermill.LoggerAdapter) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return newClient(cfg, logger), nil
}

func newClient(cfg Config, logger watermill.LoggerAdapter) *Client {
	named := namedlog.New(logger, "source")
	base := strings.TrimRight(cfg.BaseURL, "/") + "/eventnotifications/v2/" + url.PathEscape(cfg.FeedID)
	if u, err := url.Parse(cfg.BaseURL); err == nil { // validated
		// A redirect off the API's origin would carry the tenant header,
		// the bearer token's trust and the Referer elsewhere: refused.
		cfg.HTTPClient = sameorigin.Client(cfg.HTTPClient, u)
	}
	c := &Client{cfg: cfg, base: base, logger: named.With(watermill.LogFields{"feed": cfg.FeedID}), named: named}
	c.metrics.Store(newFeedMetrics(nil, "", cfg.FeedID))
	return c
}

var (
	errToken   = errors.New("token")
	errTimeout = errors.New("timeout")
)

// Next fetches the feed's current batch; nil, nil when the feed is empty
// (204). A 404 is a *FeedNotFoundError; a body that is not a valid batch
// wraps ErrInvalidBatch.
func (c *Client) Next(ctx context.Context) (*Batch, error) {
	a, err := c.do(ctx, http.MethodGet, c.base+"/next", "next", c.cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	switch a.status {
	case http.StatusOK:
		b, err := ParseBatch(a.body, MaxBatchSize)
		if err != nil {
			return nil, fmt.Errorf("batchfeed: next: %w", err)
		}
		return b, nil
	case http.StatusNoContent:
		return nil, nil
	case http.StatusNotFound:
		return nil, &FeedNotFoundError{Feed: c.cfg.FeedID, Suggestion: suggestFeed(c.cfg.FeedID), TraceID: traceID(a.body)}
	default:
		return nil, a.statusError("next")
	}
}

// Complete marks batchID done. A 404 wraps ErrBatchNotFound: the feed no
// longer has that batch (completed already).
func (c *Client) Complete(ctx context.Context, batchID string) error {
	op := "complete " + batchID
	a, err := c.do(ctx, http.MethodPost, c.base+"/"+url.PathEscape(batchID)+"/complete", op, c.cfg.RequestTimeout)
	if err != nil {
		return err
	}
	switch {
	case a.status >= 200 && a.status < 300:
		return nil
	case a.status == http.StatusNotFound:
		return fmt.Errorf("batchfeed: %s: %w (traceId %s)", op, ErrBatchNotFound, traceID(a.body))
	default:
		return a.statusError(op)
	}
}

// answer is what do read.
type answer struct {
	status     int
	body       []byte
	retryAfter time.Duration // from Retry-After in seconds, if any
}

func (a answer) statusError(op string) *StatusError {
	return &StatusError{Op: op, Status: a.status, Body: snippet(a.body), RetryAfter: a.retryAfter}
}

// do sends one request and reads the answer, bounded by timeout.
func (c *Client) do(ctx context.Context, method, u, op string, timeout time.Duration) (answer, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return answer{}, fmt.Errorf("batchfeed: %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.cfg.TenantID != "" {
		req.Header.Set(c.cfg.TenantHeader, c.cfg.TenantID)
	}
	var bearer string
	if c.cfg.TokenSource != nil {
		tok, err := c.cfg.TokenSource.Token()
		if err != nil {
			// The oauth2 errors name the token URL and the provider's error
			// code, never the client secret.
			return answer{}, fmt.Errorf("batchfeed: %s: get bearer %w: %w", op, errToken, err)
		}
		bearer = tok.AccessToken
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return answer{}, c.transportErr(ctx, op, timeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		return answer{}, c.transportErr(ctx, op, timeout, fmt.Errorf("read body (HTTP %d): %w", resp.StatusCode, err))
	}
	if int64(len(body)) > c.cfg.MaxBodyBytes {
		return answer{}, fmt.Errorf("batchfeed: %s: body larger than %d bytes", op, c.cfg.MaxBodyBytes)
	}
	a := answer{status: resp.StatusCode, body: body}
	if a.status == http.StatusUnauthorized && bearer != "" {
		// Refused before its expiry (revoked, keys rotated): fetch a new
		// one for the next request rather than retry this one until it lapses.
		if inv, ok := c.cfg.TokenSource.(invalidator); ok {
			inv.Invalidate(bearer)
		}
	}
	a.retryAfter, _ = middleware.ParseRetryAfter(resp.Header, time.Now())
	return a, nil
}

func (c *Client) transportErr(ctx context.Context, op string, timeout time.Duration, err error) error {
	if context.Cause(ctx) == errTimeout {
		return fmt.Errorf("batchfeed: %s: no answer within %s: %w", op, timeout, errTimeout)
	}
	// url.Error prints the URL, which holds no secret here (the token goes in a header).
	return fmt.Errorf("batchfeed: %s: %w", op, err)
}
