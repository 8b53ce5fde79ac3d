package webhook

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// IDPlaceholder in Config.URL is replaced by the (path-escaped) event id, so
// that a PUT addresses the event's own resource (an idempotent
// create-or-update).
const IDPlaceholder = "{id}"

// Config configures one endpoint. Every secret in it (Token, BasicAuth
// password, Secrets, credentials or query values in URL) is kept out of logs,
// errors, metrics and the delivery log.
type Config struct {
	// Name names the endpoint in the delivery log, metrics and logs; the topic
	// passed to Publish (the router's sink name) when empty.
	Name string
	// URL is the receiver; it may contain IDPlaceholder. http or https.
	URL string
	// Method is POST (default) or PUT.
	Method string
	// Headers are added to every request. They may not set the headers the
	// sink owns (Content-Type, Idempotency-Key, webhook-*, Authorization, the
	// token header).
	Headers map[string]string
	// MetadataHeaders forwards message metadata as headers: header name →
	// metadata key (e.g. "X-Event-Type": tributary.MetaEventType); a header
	// is left out when the message has no such value. The W3C trace context
	// (metadata MetaTraceparent / MetaTracestate) is always forwarded.
	MetadataHeaders map[string]string
	// BasicAuth, when set, is sent as an Authorization: Basic header.
	BasicAuth *BasicAuth
	// Token, when set, is sent in the TokenHeader header.
	Token string
	// TokenHeader is the header carrying Token; "token" when empty.
	TokenHeader string
	// Secrets are Standard Webhooks secrets ("whsec_<base64>"). Every request
	// is signed with each of them, so a receiver can rotate without downtime.
	Secrets []string
	// Timeout bounds one request, response included; 15 s when zero.
	Timeout time.Duration
	// MaxInFlight bounds concurrent requests to the endpoint; 8 when zero.
	MaxInFlight int
	// RateLimit caps requests per second to the endpoint; 0 means no limit.
	RateLimit float64
	// RateBurst is the limiter's burst; 1 when zero.
	RateBurst int
	// Breaker is the endpoint's circuit breaker.
	Breaker BreakerConfig
	// Schedule is the retry schedule the router uses for this sink (give it
	// as router.Sink.Retry; see the presets). Given here too, it keeps an open breaker
	// from hurrying the schedule: a fail-fast asks to be retried no sooner
	// than the schedule's next delay. Zero means the breaker's cooldown alone.
	Schedule middleware.Schedule
	// AllowPrivateNetworks turns the SSRF guard off. With the guard on (the
	// default) the sink refuses, at dial time, to connect to any address in
	// the IANA special-purpose registries (loopback, private, link-local,
	// documentation, 6to4, Teredo, …) — whatever the host name resolves
	// to. Tests against httptest set it.
	AllowPrivateNetworks bool
	// TLSConfig overrides the TLS client configuration (custom roots). Nil
	// means Go's defaults: certificates are verified.
	TLSConfig *tls.Config
	// MaxLoggedBody is how much of a response body the delivery log keeps; 1 KiB when zero.
	MaxLoggedBody int
	// Log records every attempt; nil records nothing.
	Log DeliveryLog
	// State keeps the endpoint's enabled/disabled state (a 410 disables it)
	// where every instance sees it and a restart keeps it
	// (NewPostgresEndpoints). Nil keeps it in this Publisher only.
	State EndpointStates
	// StateRefresh is how stale the Publisher's view of State may get: a
	// disable or enable made elsewhere takes effect within it; 2 s when zero.
	StateRefresh time.Duration
	// TestPayload is what Test sends; a small tributary.test event when nil.
	TestPayload []byte
	// Now is the clock (for webhook-timestamp); time.Now when nil.
	Now func() time.Time
}

// BasicAuth holds HTTP Basic credentials.
type BasicAuth struct {
	Username string
	Password string
}

// BreakerConfig configures the per-endpoint circuit breaker: Failures
// consecutive failed attempts open it; after Cooldown one probe goes through
// (half-open) and its success closes it again.
type BreakerConfig struct {
	// Failures opens the breaker; 5 when zero.
	Failures int
	// Cooldown is how long it stays open before a probe; 30 s when zero.
	Cooldown time.Duration
	// Disabled turns the breaker off.
	Disabled bool
}

func (c *Config) setDefaults() {
	if c.Method == "" {
		c.Method = http.MethodPost
	}
	c.Method = strings.ToUpper(c.Method)
	if c.TokenHeader == "" {
		c.TokenHeader = "token"
	}
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 8
	}
	if c.RateBurst == 0 {
		c.RateBurst = 1
	}
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = 5
	}
	if c.Breaker.Cooldown == 0 {
		c.Breaker.Cooldown = 30 * time.Second
	}
	if c.MaxLoggedBody == 0 {
		c.MaxLoggedBody = 1024
	}
	if c.StateRefresh == 0 {
		c.StateRefresh = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// ownedHeaders are set by the sink and may not be overridden by Headers.
var ownedHeaders = []string{
	"Content-Type", "Content-Length", "Idempotency-Key", "Authorization", "Host",
	signature.HeaderID, signature.HeaderTimestamp, signature.HeaderSignature,
}

// Validate reports every problem with c. Messages never quote secrets.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(strings.ReplaceAll(c.URL, IDPlaceholder, "x"))
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("webhook: URL is required"))
	case err != nil:
		errs = append(errs, errors.New("webhook: URL does not parse")) // the parse error would quote it
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, errors.New("webhook: URL scheme must be http or https"))
	case u.Host == "":
		errs = append(errs, errors.New("webhook: URL has no host"))
	}
	if c.Method != http.MethodPost && c.Method != http.MethodPut {
		errs = append(errs, fmt.Errorf("webhook: method %q: want POST or PUT", c.Method))
	}
	if c.Method == http.MethodPut && !strings.Contains(c.URL, IDPlaceholder) {
		errs = append(errs, fmt.Errorf("webhook: PUT needs %s in the URL, so that each event has its own resource", IDPlaceholder))
	}
	if c.Schedule.Kind != "" {
		if err := c.Schedule.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("webhook: %w", err))
		}
	}
	if _, err := signature.ParseSecrets(c.Secrets); err != nil {
		errs = append(errs, fmt.Errorf("webhook: %w", err))
	}
	owned := append(ownedHeaders, c.TokenHeader)
	for k := range c.Headers {
		if !validHeaderName(k) {
			errs = append(errs, fmt.Errorf("webhook: header name %q is not a valid token", k))
		}
		for _, o := range owned {
			if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(o) {
				errs = append(errs, fmt.Errorf("webhook: header %q is set by the sink", k))
			}
		}
	}
	for k, key := range c.MetadataHeaders {
		if !validHeaderName(k) {
			errs = append(errs, fmt.Errorf("webhook: metadata header name %q is not a valid token", k))
		}
		if key == "" {
			errs = append(errs, fmt.Errorf("webhook: metadata header %q names no metadata key", k))
		}
		for _, o := range append(owned, "traceparent", "tracestate") {
			if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(o) {
				errs = append(errs, fmt.Errorf("webhook: metadata header %q is set by the sink", k))
			}
		}
	}
	if c.Timeout < 0 || c.MaxInFlight < 0 || c.RateLimit < 0 || c.RateBurst < 0 ||
		c.Breaker.Failures < 0 || c.Breaker.Cooldown < 0 || c.MaxLoggedBody < 0 || c.StateRefresh < 0 {
		errs = append(errs, errors.New("webhook: limits and durations must not be negative"))
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
