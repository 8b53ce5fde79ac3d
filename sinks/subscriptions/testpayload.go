package subscriptions

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestOptions are the sink-wide settings a test request is sent with.
type TestOptions struct {
	// AllowPrivateNetworks turns the SSRF guard off (the sink's option).
	AllowPrivateNetworks bool
	// Timeout bounds each request; 15 s when zero.
	Timeout time.Duration
}

// TestOptions returns the settings of this sink's test requests.
func (s *Sink) TestOptions() TestOptions {
	return TestOptions{AllowPrivateNetworks: s.cfg.AllowPrivateNetworks, Timeout: s.cfg.Timeout}
}

// TypeTest is the result of one event type's test payload: as in the
// outbound-webhook seed, a request with the right credentials must get a
// 2xx and one with wrong credentials (a random token, password and signing
// secret) a 401.
type TypeTest struct {
	Type string `json:"type"`
	// Kind is create, update or delete: create and update send a dummy
	// object, delete a body with only an id.
	Kind     string `json:"kind"`
	Body     string `json:"body"`
	Verified bool   `json:"verified"`
	Reason   string `json:"reason"`
	RightKey Probe  `json:"right_key"`
	WrongKey Probe  `json:"wrong_key"`
}

// Probe is one test request's result.
type Probe struct {
	Status    int     `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	// Error is set when no response came; it holds no secret.
	Error string `json:"error,omitempty"`
}

func probe(p webhook.Probe) Probe {
	return Probe{Status: p.StatusCode, LatencyMS: float64(p.Latency.Microseconds()) / 1000, Error: p.Error}
}

// TestTypes returns the event types a test covers when none are named: the
// endpoint's exact types, and for each glob ("comment.*") its created,
// updated and deleted types.
func TestTypes(ep Endpoint) []string {
	var out []string
	add := func(t string) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, p := range ep.Types {
		switch {
		case strings.HasPrefix(p, "!"):
		case strings.Contains(p, "*"):
			prefix := strings.TrimSuffix(p[:strings.Index(p, "*")], ".")
			if prefix == "" {
				prefix = "test"
			}
			for _, k := range []string{"created", "updated", "deleted"} {
				add(prefix + "." + k)
			}
		default:
			add(p)
		}
	}
	return out
}

// kindOf says what a type's test payload looks like.
func kindOf(typ string) string {
	l := strings.ToLower(typ)
	switch {
	case strings.Contains(l, "delete") || strings.Contains(l, "remove"):
		return "delete"
	case strings.Contains(l, "update") || strings.Contains(l, "change"):
		return "update"
	}
	return "create"
}

// testBody is the dummy payload of a type's test.
func testBody(typ, kind, id string, now time.Time) []byte {
	var v any
	if kind == "delete" {
		v = map[string]any{"id": id}
	} else {
		v = map[string]any{"id": id, "type": typ, "test": true, "createdAt": now.UTC().Format(time.RFC3339),
			"data": map[string]any{"text": "Test payload from Tributary: answer 2xx to the right key, 401 to a wrong one."}}
	}
	b, _ := json.Marshal(v)
	return b
}

// Test sends each type's test payload to ep twice, with its credentials and
// with wrong ones (webhook.Publisher.Test), whether or not ep is enabled.
// The type goes in the X-Tributary-Event-Type header. Test requests bypass
// the queue, the breaker and the delivery log; the SSRF guard applies unless
// opts turn it off.
func Test(ctx context.Context, ep Endpoint, types []string, opts TestOptions) ([]TypeTest, error) {
	if len(types) == 0 {
		types = TestTypes(ep)
	}
	now := time.Now()
	out := make([]TypeTest, 0, len(types))
	for _, typ := range types {
		kind := kindOf(typ)
		body := testBody(typ, kind, "test_"+randomID(12), now)
		cfg := ep.webhookConfig(webhook.Config{Timeout: opts.Timeout, AllowPrivateNetworks: opts.AllowPrivateNetworks}, now)
		cfg.Headers = maps.Clone(ep.Headers)
		if cfg.Headers == nil {
			cfg.Headers = map[string]string{}
		}
		if _, set := cfg.Headers[http.CanonicalHeaderKey("X-Tributary-Event-Type")]; !set {
			cfg.Headers["X-Tributary-Event-Type"] = typ
		}
		cfg.TestPayload = body
		p, err := webhook.NewPublisher(cfg, nil)
		if err != nil {
			return nil, err
		}
		r := p.Test(ctx)
		_ = p.Close()
		out = append(out, TypeTest{Type: typ, Kind: kind, Body: string(body), Verified: r.Verified, Reason: r.Reason,
			RightKey: probe(r.Genuine), WrongKey: probe(r.Forged)})
	}
	return out, nil
}
