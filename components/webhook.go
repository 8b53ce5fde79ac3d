package components

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// The webhook sink is sinks/webhook: signed (Standard Webhooks), token and
// Basic-auth delivery to one endpoint, with its own in-flight cap, rate limit,
// circuit breaker, SSRF guard and delivery log. Its retry_schedule option
// becomes the router's schedule for the sink (see SinkRetry), and it answers
// `tributary webhook test`.
func init() {
	RegisterSink("webhook", "signed webhook delivery (Standard Webhooks, token, Basic auth; retries, breaker, SSRF guard)",
		func(env Env, o *WebhookOptions) (message.Publisher, error) {
			cfg, err := o.config()
			if err != nil {
				return nil, err
			}
			cfg.Name = env.Name
			if len(env.MetadataHeaders) > 0 {
				// The transform's headers join the configured ones (a copy:
				// the default map is shared).
				merged := make(map[string]string, len(cfg.MetadataHeaders)+len(env.MetadataHeaders))
				maps.Copy(merged, cfg.MetadataHeaders)
				maps.Copy(merged, env.MetadataHeaders)
				cfg.MetadataHeaders = merged
			}
			if env.Pool != nil && (o.DeliveryLog == nil || *o.DeliveryLog) {
				cfg.Log = webhook.NewPostgresLog(env.Pool)
			}
			if env.Pool != nil {
				// A 410 disables the endpoint for every instance and across
				// restarts (`tributary endpoints`, the admin page).
				cfg.State = webhook.NewPostgresEndpoints(env.Pool)
			}
			// The sink names its pipeline and sink in its lines; Env.Logger has them already.
			p, err := webhook.NewPublisher(cfg, withKnownFields(env.Logger, map[string]string{"pipeline": env.Pipeline, "sink": env.Name}))
			if err != nil {
				return nil, err
			}
			return &WebhookSink{Publisher: p, schedule: cfg.Schedule}, nil
		})
}

// WebhookOptions configures the webhook sink; it maps onto webhook.Config.
type WebhookOptions struct {
	// URL is the receiver (http or https); {id} is replaced by the event id.
	URL string `yaml:"url"`
	// Method is POST (default) or PUT (which needs {id} in the URL).
	Method string `yaml:"method"`
	// Headers are added to every request; they may not set the sink's own.
	Headers map[string]string `yaml:"headers"`
	// MetadataHeaders forwards message metadata as headers (header → metadata
	// key); DefaultWebhookMetadataHeaders when unset, none when {}. The W3C
	// traceparent / tracestate are always forwarded.
	MetadataHeaders map[string]string `yaml:"metadata_headers"`
	// BasicAuth sends an Authorization: Basic header.
	BasicAuth *BasicAuthOptions `yaml:"basic_auth"`
	// Token is sent in TokenHeader ("token" when empty), e.g.
	// token_header: Authorization with token: "Bearer ${T}".
	Token       string `yaml:"token"`
	TokenHeader string `yaml:"token_header"`
	// Secrets are Standard Webhooks signing secrets (whsec_…); every request
	// is signed with each, so a receiver can rotate.
	Secrets []string `yaml:"secrets"`
	// Timeout bounds one request (15 s when zero).
	Timeout time.Duration `yaml:"timeout"`
	// MaxInFlight bounds concurrent requests to the endpoint (8 when zero).
	MaxInFlight int `yaml:"max_in_flight"`
	// RateLimit caps requests per second (0: none); RateBurst is its burst (1).
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
	// Breaker is the endpoint's circuit breaker.
	Breaker BreakerOptions `yaml:"breaker"`
	// AllowPrivateNetworks turns the SSRF guard off (loopback, private and
	// link-local receivers are refused otherwise).
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// DeliveryLog records every attempt in tributary_delivery_attempts; on
	// unless set to false.
	DeliveryLog *bool `yaml:"delivery_log"`
	// MaxLoggedBody is how much of a response the delivery log keeps (1 KiB).
	MaxLoggedBody int `yaml:"max_logged_body"`
	// RetrySchedule is a preset (linear, parakey, standard) or a list of
	// durations ("10s,1m,5m"); it becomes this sink's retry schedule unless
	// the sink's own `retry:` block sets a schedule.
	RetrySchedule string `yaml:"retry_schedule"`
}

// DefaultWebhookMetadataHeaders are the headers the http sink sends too, so a
// receiver (the simulator's among them) can tell events' types and sources apart.
var DefaultWebhookMetadataHeaders = map[string]string{
	"X-Tributary-Event-Type": tributary.MetaEventType,
	"X-Tributary-Source":     tributary.MetaSource,
	"X-Tributary-Pipeline":   tributary.MetaPipeline,
}

// BasicAuthOptions are HTTP Basic credentials.
type BasicAuthOptions struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// BreakerOptions is webhook.BreakerConfig.
type BreakerOptions struct {
	Failures int           `yaml:"failures"`
	Cooldown time.Duration `yaml:"cooldown"`
	Disabled bool          `yaml:"disabled"`
}

// config maps the options onto webhook.Config (without Name and Log, which
// come from the environment).
func (o *WebhookOptions) config() (webhook.Config, error) {
	cfg := webhook.Config{
		URL: o.URL, Method: o.Method, Headers: o.Headers, Token: o.Token, TokenHeader: o.TokenHeader,
		Secrets: o.Secrets, Timeout: o.Timeout, MaxInFlight: o.MaxInFlight, RateLimit: o.RateLimit,
		RateBurst: o.RateBurst, AllowPrivateNetworks: o.AllowPrivateNetworks, MaxLoggedBody: o.MaxLoggedBody,
		Breaker: webhook.BreakerConfig{Failures: o.Breaker.Failures, Cooldown: o.Breaker.Cooldown, Disabled: o.Breaker.Disabled},
	}
	cfg.MetadataHeaders = o.MetadataHeaders
	if cfg.MetadataHeaders == nil {
		cfg.MetadataHeaders = DefaultWebhookMetadataHeaders
	}
	cfg.Method = strings.ToUpper(cfg.Method) // Validate sees what the sink will use
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if o.BasicAuth != nil {
		cfg.BasicAuth = &webhook.BasicAuth{Username: o.BasicAuth.Username, Password: o.BasicAuth.Password}
	}
	// The messages name the YAML keys (components.Field, reported at the
	// key's line); webhook.Config's Validate, which speaks of Go field names,
	// reports only what these checks do not cover.
	var errs []error
	if o.BasicAuth != nil && o.BasicAuth.Username == "" {
		errs = append(errs, Field("basic_auth.username", "is required"))
	}
	if o.RetrySchedule != "" {
		s, err := webhook.ParseSchedule(o.RetrySchedule)
		if err != nil {
			errs = append(errs, Field("retry_schedule", "%s", strings.TrimPrefix(err.Error(), "webhook: ")))
		} else {
			cfg.Schedule = s
		}
	}
	u, err := url.Parse(strings.ReplaceAll(o.URL, webhook.IDPlaceholder, "x"))
	switch {
	case o.URL == "":
		errs = append(errs, Field("url", "is required"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		// Never quote the URL: it may hold credentials.
		errs = append(errs, Field("url", "want an absolute http:// or https:// URL"))
	}
	switch {
	case cfg.Method != http.MethodPost && cfg.Method != http.MethodPut:
		errs = append(errs, Field("method", "%q: want POST or PUT", o.Method))
	case cfg.Method == http.MethodPut && !strings.Contains(o.URL, webhook.IDPlaceholder):
		errs = append(errs, Field("url", "method PUT needs %s in the URL, so that each event has its own resource", webhook.IDPlaceholder))
	}
	for i, sec := range o.Secrets {
		if _, err := signature.ParseSecret(sec); err != nil {
			errs = append(errs, Field(fmt.Sprintf("secrets[%d]", i), "%s", strings.TrimPrefix(err.Error(), "signature: "))) // never quotes the secret
		}
	}
	if len(errs) == 0 {
		if err := cfg.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return cfg, errors.Join(errs...)
}

// Validate implements Validator.
func (o *WebhookOptions) Validate() error {
	_, err := o.config()
	return err
}

// WebhookSink is the built webhook sink: a *webhook.Publisher that also
// supplies its retry schedule and implements Tester.
type WebhookSink struct {
	*webhook.Publisher
	schedule middleware.Schedule
}

// RetrySchedule implements ScheduleSupplier.
func (s *WebhookSink) RetrySchedule() middleware.Schedule { return s.schedule }

// Test implements Tester: the right credentials must get 2xx and wrong ones
// 401; the last check is the verdict, verified or not and why.
func (s *WebhookSink) Test(ctx context.Context) (TestResult, error) {
	r := s.Publisher.Test(ctx)
	var checks []Check
	if r.Genuine != (webhook.Probe{}) || r.Forged != (webhook.Probe{}) {
		checks = append(checks,
			Check{Name: "right credentials → 2xx", OK: r.Genuine.Error == "" && r.Genuine.StatusCode/100 == 2, Detail: probeDetail(r.Genuine)},
			Check{Name: "wrong credentials → 401", OK: r.Forged.Error == "" && r.Forged.StatusCode == http.StatusUnauthorized, Detail: probeDetail(r.Forged)})
	}
	verdict := Check{Name: "verdict", OK: r.Verified, Detail: "verified"}
	if !r.Verified {
		verdict.Detail = "not verified: " + r.Reason
	}
	return TestResult{Checks: append(checks, verdict)}, nil
}

func probeDetail(p webhook.Probe) string {
	if p.Error != "" {
		return p.Error
	}
	return fmt.Sprintf("%d %s in %s", p.StatusCode, http.StatusText(p.StatusCode), p.Latency.Round(time.Millisecond))
}
