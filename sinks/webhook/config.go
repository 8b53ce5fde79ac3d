package webhook

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// IDPlaceholder in Config.URL is replaced by the (path-escaped) event id, so
// that a PUT addresses the event's own resource (an idempotent
// create-or-update).
const IDPlaceholder = "{id}"

// Config configures one endpoint. Every secret in it (Token, BasicAuth
// password, Secrets, credentials or query values in URL) is kept out of logs,
// errors, metrics and the delivery log. A pipeline file's `options:` block
// for a webhook sink decodes into it: each field's yaml tag is its key there.
//
// It has no name: the endpoint is named by the topic Publish is given, which
// the router sets to the sink's name (router.Sink.Name). It has no retry
// schedule: that is the router's (router.Sink.Retry), the
// one place a sink's schedule is written. An open breaker asks the router
// to wait at least its cooldown (middleware.NotBefore), so the schedule's
// rhythm is kept without the sink knowing it.
type Config struct {
	// URL is the receiver; it may contain IDPlaceholder. http or https.
	URL string `yaml:"url"`
	// Method is POST (default) or PUT.
	Method string `yaml:"method"`
	// Headers are added to every request. They may not set the headers the
	// sink owns (Content-Type, Idempotency-Key, webhook-*, Authorization, the
	// token header).
	Headers map[string]string `yaml:"headers"`
	// MetadataHeaders forwards message metadata as headers: header name →
	// metadata key (e.g. "X-Event-Type": tributary.MetaEventType); a header
	// is left out when the message has no such value. The W3C trace context
	// (metadata MetaTraceparent / MetaTracestate) is always forwarded.
	MetadataHeaders map[string]string `yaml:"metadata_headers"`
	// BasicAuth, when set, is sent as an Authorization: Basic header.
	BasicAuth *BasicAuth `yaml:"basic_auth"`
	// Token, when set, is sent in the TokenHeader header.
	Token string `yaml:"token"`
	// TokenHeader is the header carrying Token; "token" when empty.
	TokenHeader string `yaml:"token_header"`
	// Secrets are Standard Webhooks secrets ("whsec_<base64>"). Every request
	// is signed with each of them, so a receiver can rotate without downtime.
	Secrets []string `yaml:"secrets"`
	// Timeout bounds one request, response included; 15 s when zero.
	Timeout time.Duration `yaml:"timeout"`
	// MaxInFlight bounds concurrent requests to the endpoint; 8 when zero.
	MaxInFlight int `yaml:"max_in_flight"`
	// RateLimit caps requests per second to the endpoint; 0 means no limit.
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is the limiter's burst; 1 when zero.
	RateBurst int `yaml:"rate_burst"`
	// Breaker is the endpoint's circuit breaker.
	Breaker BreakerConfig `yaml:"breaker"`
	// AllowPrivateNetworks turns the SSRF guard off. With the guard on (the
	// default) the sink refuses, at dial time, to connect to any address in
	// the IANA special-purpose registries (loopback, private, link-local,
	// documentation, 6to4, Teredo, …) — whatever the host name resolves
	// to. Tests against httptest set it.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// TLSConfig overrides the TLS client configuration (custom roots). Nil
	// means Go's defaults: certificates are verified.
	TLSConfig *tls.Config `yaml:"-"`
	// MaxLoggedBody is how much of a response body the delivery log keeps; 1 KiB when zero.
	MaxLoggedBody int `yaml:"max_logged_body"`
	// Log records every attempt; nil records nothing.
	Log DeliveryLog `yaml:"-"`
	// State keeps the endpoint's enabled/disabled state (a 410 disables it)
	// where every instance sees it and a restart keeps it
	// (NewPostgresEndpoints). Nil keeps it in this Publisher only.
	State EndpointStates `yaml:"-"`
	// StateRefresh is how stale the Publisher's view of State may get: a
	// disable or enable made elsewhere takes effect within it; 2 s when zero.
	StateRefresh time.Duration `yaml:"state_refresh"`
	// TestPayload is what Test sends; a small tributary.test event when nil.
	TestPayload []byte `yaml:"-"`
	// Now is the clock (for webhook-timestamp); time.Now when nil.
	Now func() time.Time `yaml:"-"`
}

// BasicAuth holds HTTP Basic credentials.
type BasicAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// BreakerConfig configures the per-endpoint circuit breaker: Failures
// consecutive failed attempts open it; after Cooldown one probe goes through
// (half-open) and its success closes it again.
type BreakerConfig struct {
	// Failures opens the breaker; 5 when zero.
	Failures int `yaml:"failures"`
	// Cooldown is how long it stays open before a probe; 30 s when zero.
	Cooldown time.Duration `yaml:"cooldown"`
	// Disabled turns the breaker off.
	Disabled bool `yaml:"disabled"`
}

func (c *Config) setDefaults() {
	c.Method = strings.ToUpper(cmp.Or(c.Method, http.MethodPost))
	c.TokenHeader = cmp.Or(c.TokenHeader, "token")
	c.Timeout = cmp.Or(c.Timeout, 15*time.Second)
	c.MaxInFlight = cmp.Or(c.MaxInFlight, 8)
	c.RateBurst = cmp.Or(c.RateBurst, 1)
	c.Breaker.Failures = cmp.Or(c.Breaker.Failures, 5)
	c.Breaker.Cooldown = cmp.Or(c.Breaker.Cooldown, 30*time.Second)
	c.MaxLoggedBody = cmp.Or(c.MaxLoggedBody, 1024)
	c.StateRefresh = cmp.Or(c.StateRefresh, 2*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// ownedHeaders are set by the sink and may not be overridden by Headers.
var ownedHeaders = []string{
	"Content-Type", "Content-Length", "Idempotency-Key", "Authorization", "Host",
	signature.HeaderID, signature.HeaderTimestamp, signature.HeaderSignature,
}

// Validate reports every problem with c (as NewPublisher will use it, with
// defaults; c is not changed), each an *tributary.OptionError naming its
// key. Messages never quote secrets, nor the URL, which may hold one.
func (c Config) Validate() error {
	method := c.Method
	c.setDefaults()
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	u, err := url.Parse(strings.ReplaceAll(c.URL, IDPlaceholder, "x"))
	switch {
	case c.URL == "":
		bad("url", "is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad("url", "want an absolute http:// or https:// URL")
	}
	switch {
	case c.Method != http.MethodPost && c.Method != http.MethodPut:
		bad("method", "%q: want POST or PUT", method)
	case c.Method == http.MethodPut && !strings.Contains(c.URL, IDPlaceholder):
		bad("url", "method PUT needs %s in the URL, so that each event has its own resource", IDPlaceholder)
	}
	if c.BasicAuth != nil && c.BasicAuth.Username == "" {
		bad("basic_auth.username", "is required")
	}
	for i, sec := range c.Secrets {
		if _, err := signature.ParseSecret(sec); err != nil {
			bad(fmt.Sprintf("secrets[%d]", i), "%s", strings.TrimPrefix(err.Error(), "signature: "))
		}
	}
	owned := append(ownedHeaders, c.TokenHeader)
	for k := range c.Headers {
		if !validHeaderName(k) {
			bad("headers", "header name %q is not a valid token", k)
		}
		for _, o := range owned {
			if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(o) {
				bad("headers", "header %q is set by the sink", k)
			}
		}
	}
	for k, key := range c.MetadataHeaders {
		if !validHeaderName(k) {
			bad("metadata_headers", "header name %q is not a valid token", k)
		}
		if key == "" {
			bad("metadata_headers", "header %q names no metadata key", k)
		}
		for _, o := range append(owned, "traceparent", "tracestate") {
			if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(o) {
				bad("metadata_headers", "header %q is set by the sink", k)
			}
		}
	}
	for _, n := range []struct {
		key string
		v   float64
	}{
		{"timeout", float64(c.Timeout)}, {"max_in_flight", float64(c.MaxInFlight)}, {"rate_limit", c.RateLimit},
		{"rate_burst", float64(c.RateBurst)}, {"breaker.failures", float64(c.Breaker.Failures)},
		{"breaker.cooldown", float64(c.Breaker.Cooldown)}, {"max_logged_body", float64(c.MaxLoggedBody)},
		{"state_refresh", float64(c.StateRefresh)},
	} {
		if n.v < 0 {
			bad(n.key, "must not be negative")
		}
	}
	return errors.Join(errs...)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 127 || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) || r == 127 {
			return false
		}
	}
	return true
}
