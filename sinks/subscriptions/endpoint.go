package subscriptions

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/redact"
	"github.com/tributary-dev/tributary/routing"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// Endpoint is one receiver of a subscriptions sink: a row of
// tributary_subscription_endpoints. Its JSON form is the admin API's; the
// credentials (Token, BasicPassword, each secret) are write-only there:
// Redacted replaces them before an endpoint is shown.
type Endpoint struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	Sink     string `json:"sink"`
	// Tenant, when set, owns the endpoint: it receives only events whose
	// tenant (the sink's tenant_key) is this value. An endpoint without a
	// tenant receives every tenant's events and those with none.
	Tenant      string `json:"tenant,omitempty"`
	Description string `json:"description,omitempty"`
	// URL is the receiver; {id} is replaced by the event id (PUT needs it).
	URL    string `json:"url"`
	Method string `json:"method"`
	// Types are event-type patterns (package routing): "comment.created",
	// "comment.*", "!comment.spam".
	Types         []string          `json:"types"`
	Token         string            `json:"token,omitempty"`
	TokenHeader   string            `json:"token_header,omitempty"`
	BasicUsername string            `json:"basic_username,omitempty"`
	BasicPassword string            `json:"basic_password,omitempty"`
	Secrets       []Secret          `json:"secrets,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	// RateLimit caps requests per second to this endpoint; 0: none.
	RateLimit      float64   `json:"rate_limit,omitempty"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	UpdatedBy      string    `json:"updated_by,omitempty"`
	Version        int64     `json:"version"`
}

// Secret is a Standard Webhooks signing secret. A request is signed with
// every secret not expired, so a receiver can move to a new one while the old
// still verifies; Rotate gives the old ones an expiry.
type Secret struct {
	Secret    string     `json:"secret"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Redacted is the value shown for a credential.
const Redacted = "[redacted]"

// Redacted returns e with its credentials replaced: the token, the password
// and credential-looking headers' values by Redacted, each secret by its
// prefix and last four characters (enough to tell two apart), and the URL's
// user info and query values removed.
func (e Endpoint) Redacted() Endpoint {
	if e.Token != "" {
		e.Token = Redacted
	}
	if e.BasicPassword != "" {
		e.BasicPassword = Redacted
	}
	sec := make([]Secret, len(e.Secrets))
	for i, s := range e.Secrets {
		sec[i] = Secret{Secret: maskSecret(s.Secret), ExpiresAt: s.ExpiresAt}
	}
	e.Secrets = sec
	e.URL = webhook.RedactURL(e.URL)
	if len(e.Headers) > 0 {
		e.Headers = maps.Clone(e.Headers)
		for k := range e.Headers {
			if redact.SecretHeader.MatchString(k) {
				e.Headers[k] = Redacted
			}
		}
	}
	return e
}

func maskSecret(s string) string {
	if len(s) < 16 {
		return Redacted
	}
	return "whsec_…" + s[len(s)-4:]
}

// activeSecrets returns the secrets not expired at now.
func (e Endpoint) activeSecrets(now time.Time) []string {
	var out []string
	for _, s := range e.Secrets {
		if s.ExpiresAt == nil || now.Before(*s.ExpiresAt) {
			out = append(out, s.Secret)
		}
	}
	return out
}

// nextExpiry is when the next secret expires (zero: none will).
func (e Endpoint) nextExpiry(now time.Time) time.Time {
	var t time.Time
	for _, s := range e.Secrets {
		if s.ExpiresAt != nil && now.Before(*s.ExpiresAt) && (t.IsZero() || s.ExpiresAt.Before(t)) {
			t = *s.ExpiresAt
		}
	}
	return t
}

// webhookConfig is the endpoint as one webhook sink's configuration, with
// the sink-wide settings in base.
func (e Endpoint) webhookConfig(base webhook.Config, now time.Time) webhook.Config {
	c := base
	c.URL, c.Method, c.Headers, c.RateLimit = e.URL, e.Method, e.Headers, e.RateLimit
	c.Token, c.TokenHeader = e.Token, e.TokenHeader
	c.BasicAuth = nil
	if e.BasicUsername != "" {
		c.BasicAuth = &webhook.BasicAuth{Username: e.BasicUsername, Password: e.BasicPassword}
	}
	c.Secrets = e.activeSecrets(now)
	return c
}

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)
	tenantPattern = regexp.MustCompile(`^[^\x00-\x1f\x7f]{1,200}$`)
	namePattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

// ErrInvalid wraps every validation error; errors.Join of
// *tributary.OptionError naming the JSON field ("url", "types[1]",
// "secrets[0]") sits under it.
var ErrInvalid = errors.New("invalid endpoint")

// Validate reports every problem with e, each an *tributary.OptionError
// keyed by its JSON field. Messages never quote a credential or the URL.
func (e Endpoint) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	if e.ID != "" && !idPattern.MatchString(e.ID) {
		bad("id", "want letters, digits, '_', '.', ':' or '-', at most 128")
	}
	if !namePattern.MatchString(e.Pipeline) {
		bad("pipeline", "want the pipeline's name (lower-case letters, digits, '-' and '_')")
	}
	if !namePattern.MatchString(e.Sink) {
		bad("sink", "want the subscriptions sink's name (lower-case letters, digits, '-' and '_')")
	}
	if e.Tenant != "" && !tenantPattern.MatchString(e.Tenant) {
		bad("tenant", "want 1 to 200 printable characters")
	}
	if len(e.Description) > 1000 {
		bad("description", "at most 1000 characters")
	}
	if len(e.Types) == 0 {
		bad("types", "is required: the event-type patterns this endpoint subscribes to (e.g. comment.created, comment.*)")
	}
	if _, err := routing.CompileTypes(e.Types...); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			key, msg, _ := strings.Cut(line, ": ")
			bad(key, "%s", msg)
		}
	}
	for i, t := range e.Types {
		if len(t) > 200 {
			bad(fmt.Sprintf("types[%d]", i), "at most 200 characters")
		}
	}
	if e.BasicPassword != "" && e.BasicUsername == "" {
		bad("basic_username", "is required with basic_password")
	}
	for i, s := range e.Secrets {
		if _, err := signature.ParseSecret(s.Secret); err != nil {
			bad(fmt.Sprintf("secrets[%d]", i), "want whsec_ followed by base64")
		}
	}
	cfg := e.webhookConfig(webhook.Config{}, time.Time{})
	cfg.Secrets = nil // checked above, with their own index
	opts, rest := tributary.OptionErrors(cfg.Validate())
	for _, o := range opts {
		switch o.Key {
		case "basic_auth.username":
			o.Key = "basic_username"
		case "headers", "url", "method", "rate_limit":
		default:
			continue // keys the API has no field for take their defaults
		}
		errs = append(errs, o)
	}
	errs = append(errs, rest...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// setDefaults fills what a new endpoint may leave out.
func (e *Endpoint) setDefaults() {
	if e.ID == "" {
		e.ID = "ep_" + randomID(12)
	}
	e.Method = strings.ToUpper(strings.TrimSpace(e.Method))
	if e.Method == "" {
		e.Method = "POST"
	}
	if e.TokenHeader == "" {
		e.TokenHeader = "token"
	}
}

// NewSecret returns a fresh Standard Webhooks secret (24 random bytes).
func NewSecret() string {
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	return signature.NewSecret(key).Encode()
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(base64.RawURLEncoding.EncodeToString(b)[:n])
}
