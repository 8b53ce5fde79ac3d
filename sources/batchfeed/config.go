package batchfeed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/backoff"
)

// KnownFeeds are the feed ids the provider documents. They are
// case-sensitive.
var KnownFeeds = []string{"journey", "entitydata", "document", "screening", "digitalidv", "association"}

// MaxBatchSize is the most notifications the protocol puts in a batch.
const MaxBatchSize = 10

// Config configures a Client and a Source. It is also what a pipeline
// file's `options:` block for a batchfeed source decodes into: each field's
// yaml tag is its key there.
type Config struct {
	// BaseURL of the API; the path /eventnotifications/v2/… is appended.
	BaseURL string `yaml:"base_url"`
	// FeedID is the feed to read, spelt exactly (ids are case-sensitive).
	FeedID string `yaml:"feed_id"`

	// Auth is a static bearer token or OAuth2 client credentials (or
	// neither, for a feed behind another gateway); TokenSource, when set,
	// is used instead.
	Auth Auth `yaml:"auth"`
	// TokenSource gives the bearer token of every request; built from Auth
	// when nil. It must be safe for concurrent use and must not block
	// indefinitely (Token takes no context).
	TokenSource oauth2.TokenSource `yaml:"-"`
	// TenantID, when set, is sent in TenantHeader on every request.
	TenantID string `yaml:"tenant_id"`
	// TenantHeader is the tenant header's name; X-Tenant-Id when empty.
	TenantHeader string `yaml:"tenant_header"`

	// HTTPClient sends the requests; a client without timeout of its own when nil
	// (each request is bounded by RequestTimeout).
	HTTPClient *http.Client `yaml:"-"`
	// RequestTimeout bounds next and complete; 30 s when zero.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// DiscardTimeout bounds discardAll, which the provider says can be slow; 5 min when zero.
	DiscardTimeout time.Duration `yaml:"discard_timeout"`
	// MaxBodyBytes caps a batch body; 8 MiB when zero.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`

	// PollInterval is the wait after an empty feed (204) or a batch without
	// moreAvailable; 10 s when zero. PollJitter spreads it by ±that fraction
	// (0.2 when zero; negative for none).
	PollInterval time.Duration `yaml:"poll_interval"`
	PollJitter   float64       `yaml:"poll_jitter"`
	// Backoff spaces retries after errors (next, complete, a nacked message).
	Backoff Backoff `yaml:"backoff"`

	// Unordered has no effect any more: a batch is handed on as one group,
	// stored in its order by one statement, which is faster than storing
	// its notifications concurrently was. Accepted so that files setting it
	// still load.
	Unordered bool `yaml:"unordered"`
}

// Auth is how requests authenticate: Token, or OAuth2, or neither.
type Auth struct {
	// Token is a static bearer token (use ${ENV} in a file).
	Token string `yaml:"token"`
	// OAuth2 is the client credentials grant (ClientCredentials).
	OAuth2 *OAuth2 `yaml:"oauth2"`
}

// OAuth2 is the OAuth2 client credentials grant.
type OAuth2 struct {
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	// Params are the token request's extra parameters (audience and such).
	Params map[string]string `yaml:"params"`
	// RefreshBefore renews a token this long before it expires; 1 min when zero.
	RefreshBefore time.Duration `yaml:"refresh_before"`
}

// tokenSource is what Auth says, nil for neither.
func (a Auth) tokenSource() oauth2.TokenSource {
	switch {
	case a.OAuth2 != nil:
		cc := clientcredentials.Config{
			ClientID: a.OAuth2.ClientID, ClientSecret: a.OAuth2.ClientSecret,
			TokenURL: a.OAuth2.TokenURL, Scopes: a.OAuth2.Scopes,
		}
		if len(a.OAuth2.Params) > 0 {
			cc.EndpointParams = url.Values{}
			for k, v := range a.OAuth2.Params {
				cc.EndpointParams.Set(k, v)
			}
		}
		// Background: token requests outlive any one call (the client bounds them).
		return ClientCredentials(context.Background(), cc, cmp.Or(a.OAuth2.RefreshBefore, time.Minute))
	case a.Token != "":
		return StaticToken(a.Token)
	}
	return nil
}

// Backoff is an exponential backoff with jitter.
type Backoff struct {
	// Initial wait; 1 s when zero.
	Initial time.Duration `yaml:"initial"`
	// Max wait; 2 min when zero.
	Max time.Duration `yaml:"max"`
	// Multiplier between attempts; 2 when zero.
	Multiplier float64 `yaml:"multiplier"`
	// Jitter spreads each wait by ±that fraction; 0.2 when zero, negative for none.
	Jitter float64 `yaml:"jitter"`
}

// Delay is the wait before retry number attempt (0-based):
// Initial·Multiplier^attempt capped at Max, spread by ±Jitter.
func (b Backoff) Delay(attempt int) time.Duration {
	return backoff.Jitter(backoff.Exponential(b.Initial, b.Multiplier, attempt, b.Max), b.Jitter)
}

func (c *Config) setDefaults() {
	if c.TokenSource == nil {
		c.TokenSource = c.Auth.tokenSource()
	}
	c.TenantHeader = cmp.Or(c.TenantHeader, "X-Tenant-Id")
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	c.RequestTimeout = cmp.Or(c.RequestTimeout, 30*time.Second)
	c.DiscardTimeout = cmp.Or(c.DiscardTimeout, 5*time.Minute)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, 8<<20)
	c.PollInterval = cmp.Or(c.PollInterval, 10*time.Second)
	c.PollJitter = cmp.Or(c.PollJitter, 0.2)
	c.Backoff.Initial = cmp.Or(c.Backoff.Initial, time.Second)
	c.Backoff.Max = cmp.Or(c.Backoff.Max, 2*time.Minute)
	c.Backoff.Multiplier = cmp.Or(c.Backoff.Multiplier, 2)
	c.Backoff.Jitter = cmp.Or(c.Backoff.Jitter, 0.2)
}

// ErrConfig marks configuration errors: retrying cannot fix them.
var ErrConfig = errors.New("batchfeed: configuration error")

// Validate reports every problem with the options, each an
// *tributary.OptionError naming its key; it checks c with defaults applied
// but does not change c. NewClient and NewSource wrap its error in ErrConfig.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	absURL := func(key, v, what string) {
		if v == "" {
			bad(key, "required; %s", what)
		} else if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q: want an absolute http:// or https:// URL", v)
		}
	}
	absURL("base_url", c.BaseURL, "the API root; /eventnotifications/v2/{feed_id}/… is appended")
	if err := checkFeedID(c.FeedID); err != nil {
		bad("feed_id", "%v", err)
	}
	if a := c.Auth.OAuth2; a != nil {
		if c.Auth.Token != "" {
			bad("auth", "give either token or oauth2, not both")
		}
		absURL("auth.oauth2.token_url", a.TokenURL, "the OAuth2 token endpoint")
		if a.ClientID == "" {
			bad("auth.oauth2.client_id", "required")
		}
		if a.ClientSecret == "" {
			bad("auth.oauth2.client_secret", "required; use ${ENV} rather than writing it in the file")
		}
		if a.RefreshBefore < 0 {
			bad("auth.oauth2.refresh_before", "must not be negative")
		}
	}
	if strings.ContainsAny(c.TenantHeader, " :\r\n") {
		bad("tenant_header", "%q is not a header name", c.TenantHeader)
	}
	for _, d := range []struct {
		key string
		v   float64
	}{
		{"poll_interval", float64(c.PollInterval)}, {"request_timeout", float64(c.RequestTimeout)},
		{"discard_timeout", float64(c.DiscardTimeout)}, {"backoff.initial", float64(c.Backoff.Initial)},
		{"backoff.max", float64(c.Backoff.Max)}, {"max_body_bytes", float64(c.MaxBodyBytes)},
	} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if c.Backoff.Max < c.Backoff.Initial {
		bad("backoff.max", "%s is below backoff.initial %s", c.Backoff.Max, c.Backoff.Initial)
	}
	if c.Backoff.Multiplier < 1 {
		bad("backoff.multiplier", "%g: want at least 1", c.Backoff.Multiplier)
	}
	if c.PollJitter >= 1 {
		bad("poll_jitter", "%g: want a fraction below 1 (negative: none)", c.PollJitter)
	}
	if c.Backoff.Jitter >= 1 {
		bad("backoff.jitter", "%g: want a fraction below 1 (negative: none)", c.Backoff.Jitter)
	}
	return errors.Join(errs...)
}

// validate is Validate marked ErrConfig, for the constructors.
func (c Config) validate() error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// checkFeedID refuses ids that cannot be a feed, and known ids in the wrong
// case (the provider answers those with 404). Other ids are let through: the
// provider may add feeds, and a 404 then stops the source with a clear error.
func checkFeedID(id string) error {
	if id == "" {
		return fmt.Errorf("required; one of %s", strings.Join(KnownFeeds, ", "))
	}
	if strings.ContainsAny(id, "/?#% ") {
		return fmt.Errorf("%q: not a feed id", id)
	}
	if slices.Contains(KnownFeeds, id) {
		return nil
	}
	if s := suggestFeed(id); s != "" {
		return fmt.Errorf("%q: feed ids are case-sensitive, did you mean %q? (valid: %s)", id, s, strings.Join(KnownFeeds, ", "))
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
