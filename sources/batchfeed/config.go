package batchfeed

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// KnownFeeds are the feed ids the provider documents. They are
// case-sensitive.
var KnownFeeds = []string{"journey", "entitydata", "document", "screening", "digitalidv", "association"}

// MaxBatchSize is the most notifications the protocol puts in a batch.
const MaxBatchSize = 10

// Config configures a Client and a Source.
type Config struct {
	// BaseURL of the API; the path /eventnotifications/v2/… is appended.
	BaseURL string
	// FeedID is the feed to read, spelt exactly (ids are case-sensitive).
	FeedID string
	// Name labels logs and metrics; FeedID when empty.
	Name string

	// TokenSource gives the bearer token of every request; nil sends none.
	// Use ClientCredentials for OAuth2, or StaticToken. It must be safe for
	// concurrent use and must not block indefinitely (Token takes no context).
	TokenSource oauth2.TokenSource
	// TenantID, when set, is sent in TenantHeader on every request.
	TenantID string
	// TenantHeader is the tenant header's name; X-Tenant-Id when empty.
	TenantHeader string

	// HTTPClient sends the requests; a client without timeout of its own when nil
	// (each request is bounded by RequestTimeout).
	HTTPClient *http.Client
	// RequestTimeout bounds next and complete; 30 s when zero.
	RequestTimeout time.Duration
	// DiscardTimeout bounds discardAll, which the provider says can be slow; 5 min when zero.
	DiscardTimeout time.Duration
	// MaxBodyBytes caps a batch body; 8 MiB when zero.
	MaxBodyBytes int64

	// PollInterval is the wait after an empty feed (204) or a batch without
	// moreAvailable; 10 s when zero. PollJitter spreads it by ±that fraction
	// (0.2 when zero; negative for none).
	PollInterval time.Duration
	PollJitter   float64
	// Backoff spaces retries after errors (next, complete, a nacked message).
	Backoff Backoff

	// Unordered hands on all notifications of a batch at once instead of one
	// at a time. The router stores them concurrently (faster: see the
	// benchmark), so their order within a batch may differ in the topic.
	// The batch is still completed only after every one is acked.
	Unordered bool
}

// Backoff is an exponential backoff with jitter.
type Backoff struct {
	// Initial wait; 1 s when zero.
	Initial time.Duration
	// Max wait; 2 min when zero.
	Max time.Duration
	// Multiplier between attempts; 2 when zero.
	Multiplier float64
	// Jitter spreads each wait by ±that fraction; 0.2 when zero, negative for none.
	Jitter float64
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = c.FeedID
	}
	if c.TenantHeader == "" {
		c.TenantHeader = "X-Tenant-Id"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.DiscardTimeout == 0 {
		c.DiscardTimeout = 5 * time.Minute
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Second
	}
	if c.PollJitter == 0 {
		c.PollJitter = 0.2
	}
	c.Backoff.setDefaults()
}

func (b *Backoff) setDefaults() {
	if b.Initial == 0 {
		b.Initial = time.Second
	}
	if b.Max == 0 {
		b.Max = 2 * time.Minute
	}
	if b.Multiplier == 0 {
		b.Multiplier = 2
	}
	if b.Jitter == 0 {
		b.Jitter = 0.2
	}
}

// ErrConfig marks configuration errors: retrying cannot fix them.
var ErrConfig = errors.New("batchfeed: configuration error")

// Validate reports every problem with c (after defaults).
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		errs = append(errs, errors.New("BaseURL is required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("BaseURL: %w", err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("BaseURL %q: want an absolute http(s) URL", c.BaseURL))
	}
	if err := checkFeedID(c.FeedID); err != nil {
		errs = append(errs, err)
	}
	if strings.ContainsAny(c.TenantHeader, " :\r\n") {
		errs = append(errs, fmt.Errorf("TenantHeader %q is not a header name", c.TenantHeader))
	}
	if c.RequestTimeout < 0 || c.DiscardTimeout < 0 || c.PollInterval < 0 || c.Backoff.Initial < 0 || c.Backoff.Max < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.Backoff.Max < c.Backoff.Initial {
		errs = append(errs, fmt.Errorf("Backoff.Max %s is below Backoff.Initial %s", c.Backoff.Max, c.Backoff.Initial))
	}
	if c.Backoff.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("Backoff.Multiplier %g: want at least 1", c.Backoff.Multiplier))
	}
	if c.PollJitter >= 1 || c.Backoff.Jitter >= 1 {
		errs = append(errs, errors.New("jitter must be below 1"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("MaxBodyBytes must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// checkFeedID refuses ids that cannot be a feed, and known ids in the wrong
// case (the provider answers those with 404). Other ids are let through: the
// provider may add feeds, and a 404 then stops the source with a clear error.
func checkFeedID(id string) error {
	if id == "" {
		return fmt.Errorf("FeedID is required (one of %s)", strings.Join(KnownFeeds, ", "))
	}
	if strings.ContainsAny(id, "/?#% ") {
		return fmt.Errorf("FeedID %q: not a feed id", id)
	}
	if slices.Contains(KnownFeeds, id) {
		return nil
	}
	if s := suggestFeed(id); s != "" {
		return fmt.Errorf("FeedID %q: feed ids are case-sensitive, did you mean %q? (valid: %s)", id, s, strings.Join(KnownFeeds, ", "))
	}
	return nil
}

// suggestFeed returns the known feed id that id spells in another case.
func suggestFeed(id string) string {
	for _, k := range KnownFeeds {
		if strings.EqualFold(k, id) {
			return k
		}
	}
	return ""
}
