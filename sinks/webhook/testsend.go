package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/tributary-dev/tributary/webhook/signature"
)

// TestResult is the verdict of Test: an endpoint is verified when
// it accepts a request with the right credentials and refuses one with wrong
// credentials with 401.
type TestResult struct {
	Verified bool
	// Reason says why not (or "ok").
	Reason string
	// Genuine and Forged are the two requests' results.
	Genuine, Forged Probe
}

// Probe is one test request's result.
type Probe struct {
	StatusCode int
	Latency    time.Duration
	// Error is set when no response came; it holds no secret.
	Error string
}

func defaultTestPayload(id string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"tributary.test","data":{"message":"Test delivery from Tributary. Answer 2xx to a correctly authenticated request and 401 to a wrongly authenticated one."}}`, id)
}

// Test sends a test payload twice: with the endpoint's credentials (expecting
// 2xx) and with wrong ones — a random token, password and signing secret —
// (expecting 401). It bypasses the breaker and a 410 disable, so it can check
// that an endpoint is back, but not the SSRF guard. Test requests are not
// recorded in the delivery log.
func (p *Publisher) Test(ctx context.Context) TestResult {
	if p.cfg.Token == "" && p.cfg.BasicAuth == nil && len(p.secrets) == 0 {
		return TestResult{Reason: "no credentials configured (token, Basic auth or signing secret): the receiver cannot tell a forged request"}
	}
	id := "test_" + randomString(12)
	body := p.cfg.TestPayload
	if body == nil {
		body = defaultTestPayload(id)
	}
	var res TestResult
	res.Genuine = p.probe(ctx, id, body, p.secrets, p.cfg.Token, p.cfg.BasicAuth)

	var wrongSecrets []signature.Secret
	for range p.secrets {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		wrongSecrets = append(wrongSecrets, signature.NewSecret(key))
	}
	wrongToken := ""
	if p.cfg.Token != "" {
		wrongToken = "wrong-" + randomString(16)
	}
	var wrongBasic *BasicAuth
	if p.cfg.BasicAuth != nil {
		wrongBasic = &BasicAuth{Username: p.cfg.BasicAuth.Username, Password: "wrong-" + randomString(16)}
	}
	res.Forged = p.probe(ctx, id+"_forged", body, wrongSecrets, wrongToken, wrongBasic)

	switch g, f := res.Genuine, res.Forged; {
	case g.Error != "":
		res.Reason = "request with the right credentials failed: " + g.Error
	case g.StatusCode < 200 || g.StatusCode > 299:
		res.Reason = fmt.Sprintf("request with the right credentials answered %d, want 2xx", g.StatusCode)
	case f.Error != "":
		res.Reason = "request with wrong credentials failed: " + f.Error
	case f.StatusCode >= 200 && f.StatusCode <= 299:
		res.Reason = fmt.Sprintf("request with wrong credentials was accepted (%d): the receiver does not check them", f.StatusCode)
	case f.StatusCode != http.StatusUnauthorized:
		res.Reason = fmt.Sprintf("request with wrong credentials answered %d, want 401", f.StatusCode)
	default:
		res.Verified, res.Reason = true, "ok"
	}
	return res
}

func (p *Publisher) probe(ctx context.Context, id string, body []byte, secrets []signature.Secret, token string, basic *BasicAuth) Probe {
	start := time.Now()
	req, err := p.newRequest(ctx, id, body, secrets, token, basic)
	if err != nil {
		return Probe{Error: err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	r := p.do(req.WithContext(rctx))
	pr := Probe{StatusCode: r.status, Latency: time.Since(start)}
	if r.status == 0 && r.err != nil {
		pr.Error = p.scrub.scrub(r.err.Error())
	}
	return pr
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
