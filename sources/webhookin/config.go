package webhookin

import (
	"errors"
	"fmt"
	"time"

	"github.com/tributary-dev/tributary/webhook/signature"
)

// Config configures the inbound webhook source. Every configured check must
// pass: with a token and a signing secret both set, a request needs both.
type Config struct {
	// Name labels metrics and logs; "webhookin" when empty.
	Name string
	// BasicAuth, when set, is required (an Authorization: Basic header).
	BasicAuth *BasicAuth
	// Token, when set, must arrive in the TokenHeader header.
	Token string
	// TokenHeader is "token" when empty.
	TokenHeader string
	// Secrets are Standard Webhooks secrets ("whsec_..."); when set, a valid
	// signature by any of them is required (several allow rotation).
	Secrets []string
	// Tolerance bounds the webhook-timestamp's distance from now; 5 min when zero.
	Tolerance time.Duration
	// AllowUnauthenticated must be set to run with no check at all.
	AllowUnauthenticated bool
	// MaxBodyBytes refuses larger bodies with 413; 1 MiB when zero.
	MaxBodyBytes int64
	// AckTimeout bounds how long a request waits for the event to be stored
	// (acked by the router); past it the answer is 503 and the sender
	// retries. 30 s when zero.
	AckTimeout time.Duration
	// EventIDField is the top-level JSON field holding the event id, used when
	// there is no webhook-id header; "id" when empty.
	EventIDField string
	// EventTypeField is the top-level JSON field holding the event type; "type" when empty.
	EventTypeField string
	// Now is the clock for signature timestamps; time.Now when nil.
	Now func() time.Time
}

// BasicAuth holds the expected Basic credentials.
type BasicAuth struct {
	Username string
	Password string
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "webhookin"
	}
	if c.TokenHeader == "" {
		c.TokenHeader = "token"
	}
	if c.Tolerance == 0 {
		c.Tolerance = signature.DefaultTolerance
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.EventIDField == "" {
		c.EventIDField = "id"
	}
	if c.EventTypeField == "" {
		c.EventTypeField = "type"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem with c. Messages never quote secrets.
func (c Config) Validate() error {
	var errs []error
	if c.BasicAuth == nil && c.Token == "" && len(c.Secrets) == 0 && !c.AllowUnauthenticated {
		errs = append(errs, errors.New("webhookin: no BasicAuth, Token or Secrets: anyone could inject events (set AllowUnauthenticated to mean it)"))
	}
	if c.BasicAuth != nil && c.BasicAuth.Password == "" {
		errs = append(errs, errors.New("webhookin: BasicAuth needs a password"))
	}
	if _, err := signature.ParseSecrets(c.Secrets); err != nil {
		errs = append(errs, fmt.Errorf("webhookin: %w", err))
	}
	if c.Tolerance < 0 || c.MaxBodyBytes < 0 || c.AckTimeout < 0 {
		errs = append(errs, errors.New("webhookin: limits and durations must not be negative"))
	}
	return errors.Join(errs...)
}
