package webhookin

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// Config configures the inbound webhook source. Every configured check must
// pass: with a token and a signing secret both set, a request needs both.
// A pipeline file's `options:` block decodes into it (with the server's
// listen and path beside it): each field's yaml tag is its key there.
type Config struct {
	// BasicAuth, when set, is required (an Authorization: Basic header).
	BasicAuth *BasicAuth `yaml:"basic_auth"`
	// Token, when set, must arrive in the TokenHeader header.
	Token string `yaml:"token"`
	// TokenHeader is "token" when empty.
	TokenHeader string `yaml:"token_header"`
	// Secrets are Standard Webhooks secrets ("whsec_..."); when set, a valid
	// signature by any of them is required (several allow rotation).
	Secrets []string `yaml:"secrets"`
	// Tolerance bounds the webhook-timestamp's distance from now; 5 min when zero.
	Tolerance time.Duration `yaml:"tolerance"`
	// AllowUnauthenticated must be set to run with no check at all.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// MaxBodyBytes refuses larger bodies with 413; 1 MiB when zero.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// BodyTimeout bounds reading one request's body, from the end of its
	// headers; a sender still sending after it gets 408. 10 s when zero.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxConcurrentRequests caps the requests handled at once (reading
	// their body or waiting for the event to be stored); one more is
	// answered 503 with Retry-After at once, its body unread. With
	// MaxBodyBytes it bounds the memory that bodies take: see
	// docs/webhooks.md. 32 when zero.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// AckTimeout bounds how long a request waits for the event to be stored
	// (acked by the router); past it the answer is 503 and the sender
	// retries. 30 s when zero.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// EventIDField is the top-level JSON field holding the event id, used when
	// there is no webhook-id header; "id" when empty.
	EventIDField string `yaml:"event_id_field"`
	// EventTypeField is the top-level JSON field holding the event type; "type" when empty.
	EventTypeField string `yaml:"event_type_field"`
	// Now is the clock for signature timestamps; time.Now when nil.
	Now func() time.Time `yaml:"-"`
}

// BasicAuth holds the expected Basic credentials.
type BasicAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

func (c *Config) setDefaults() {
	c.TokenHeader = cmp.Or(c.TokenHeader, "token")
	c.Tolerance = cmp.Or(c.Tolerance, signature.DefaultTolerance)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, 1<<20)
	c.AckTimeout = cmp.Or(c.AckTimeout, 30*time.Second)
	c.BodyTimeout = cmp.Or(c.BodyTimeout, 10*time.Second)
	c.MaxConcurrentRequests = cmp.Or(c.MaxConcurrentRequests, 32)
	c.EventIDField = cmp.Or(c.EventIDField, "id")
	c.EventTypeField = cmp.Or(c.EventTypeField, "type")
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem with c, each an *tributary.OptionError
// naming its key. Messages never quote secrets.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	if c.BasicAuth == nil && c.Token == "" && len(c.Secrets) == 0 && !c.AllowUnauthenticated {
		bad("allow_unauthenticated", "no basic_auth, token or secrets: anyone could inject events; configure one, or set allow_unauthenticated: true to mean it (loopback only)")
	}
	if c.BasicAuth != nil {
		if c.BasicAuth.Username == "" {
			bad("basic_auth.username", "is required")
		}
		if c.BasicAuth.Password == "" {
			bad("basic_auth.password", "is required (use ${ENV})")
		}
	}
	for i, sec := range c.Secrets {
		if _, err := signature.ParseSecret(sec); err != nil {
			bad(fmt.Sprintf("secrets[%d]", i), "%s", strings.TrimPrefix(err.Error(), "signature: ")) // never quotes the secret
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"tolerance", c.Tolerance}, {"ack_timeout", c.AckTimeout}, {"body_timeout", c.BodyTimeout}} {
		if d.v < 0 {
			bad(d.key, "%s: must not be negative", d.v)
		}
	}
	if c.MaxBodyBytes < 0 {
		bad("max_body_bytes", "%d: must not be negative", c.MaxBodyBytes)
	}
	if c.MaxConcurrentRequests < 0 {
		bad("max_concurrent_requests", "%d: must not be negative", c.MaxConcurrentRequests)
	}
	return errors.Join(errs...)
}
