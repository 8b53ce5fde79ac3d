package builtin

import (
	"context"
	"fmt"
	"github.com/tributary-dev/tributary/components"
	"maps"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// The webhook sink is sinks/webhook: signed (Standard Webhooks), token and
// Basic-auth delivery to one endpoint, with its own in-flight cap, rate limit,
// circuit breaker, SSRF guard and delivery log. Its retry schedule is the
// sink's `retry:` block (or the pipeline's), as for every sink. It answers
// `tributary webhook test`.
func init() {
	components.RegisterSink("webhook", "signed webhook delivery (Standard Webhooks, token, Basic auth; breaker, SSRF guard)",
		func(env components.Env, o *WebhookConfig) (message.Publisher, error) {
			cfg := o.Config
			cfg.MetadataHeaders = metadataHeaders(cfg.MetadataHeaders, env)
			if env.Pool != nil && (o.DeliveryLog == nil || *o.DeliveryLog) {
				cfg.Log = webhook.NewPostgresLog(env.Pool)
			}
			if env.Pool != nil {
				// A 410 disables the endpoint for every instance and across
				// restarts (`tributary endpoints`, the admin page).
				cfg.State = webhook.NewPostgresEndpoints(env.Pool)
			}
			// The sink names its pipeline and sink in its lines; components.Env.Logger has them already.
			p, err := webhook.NewPublisher(cfg, withKnownFields(env.Logger, map[string]string{"pipeline": env.Pipeline, "sink": env.Name}))
			if err != nil {
				return nil, err
			}
			return &WebhookSink{Publisher: p, name: env.Name}, nil
		}, components.SendHeaders())
}

// WebhookConfig is the webhook sink's options: webhook.Config, and whether
// the binary records attempts in its database.
type WebhookConfig struct {
	webhook.Config `yaml:",inline"`
	// DeliveryLog records every attempt in tributary_delivery_attempts; on
	// unless set to false.
	DeliveryLog *bool `yaml:"delivery_log"`
}

// DefaultWebhookMetadataHeaders are the headers the http sink sends too, so a
// receiver (the simulator's among them) can tell events' types and sources apart.
var DefaultWebhookMetadataHeaders = map[string]string{
	"X-Tributary-Event-Type": tributary.MetaEventType,
	"X-Tributary-Source":     tributary.MetaSource,
	"X-Tributary-Pipeline":   tributary.MetaPipeline,
}

// metadataHeaders is a sink's configured headers (the default ones when
// none) joined by its transform's, in a copy: the default map is shared.
func metadataHeaders(configured map[string]string, env components.Env) map[string]string {
	if configured == nil {
		configured = DefaultWebhookMetadataHeaders
	}
	if len(env.MetadataHeaders) == 0 {
		return configured
	}
	merged := maps.Clone(configured)
	maps.Copy(merged, env.MetadataHeaders)
	return merged
}

// WebhookSink is the built webhook sink: a *webhook.Publisher that
// implements components.Tester.
type WebhookSink struct {
	*webhook.Publisher
	name string
}

// Publish names the endpoint by the sink's name in the file, whatever topic
// the sink's `topic:` sets.
func (s *WebhookSink) Publish(_ string, msgs ...*message.Message) error {
	return s.Publisher.Publish(s.name, msgs...)
}

// Test implements Tester: the right credentials must get 2xx and wrong ones
// 401; the last check is the verdict, verified or not and why.
func (s *WebhookSink) Test(ctx context.Context) (components.TestResult, error) {
	r := s.Publisher.Test(ctx)
	var checks []components.Check
	if r.Genuine != (webhook.Probe{}) || r.Forged != (webhook.Probe{}) {
		checks = append(checks,
			components.Check{Name: "right credentials → 2xx", OK: r.Genuine.Error == "" && r.Genuine.StatusCode/100 == 2, Detail: probeDetail(r.Genuine)},
			components.Check{Name: "wrong credentials → 401", OK: r.Forged.Error == "" && r.Forged.StatusCode == http.StatusUnauthorized, Detail: probeDetail(r.Forged)})
	}
	verdict := components.Check{Name: "verdict", OK: r.Verified, Detail: "verified"}
	if !r.Verified {
		verdict.Detail = "not verified: " + r.Reason
	}
	return components.TestResult{Checks: append(checks, verdict)}, nil
}

func probeDetail(p webhook.Probe) string {
	if p.Error != "" {
		return p.Error
	}
	return fmt.Sprintf("%d %s in %s", p.StatusCode, http.StatusText(p.StatusCode), p.Latency.Round(time.Millisecond))
}
