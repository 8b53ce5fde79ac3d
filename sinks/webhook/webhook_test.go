package webhook_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/webhook/signature"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24="
)

func TestRequestShape(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	p := newSink(t, webhook.Config{
		URL:       rc.URL + "/hooks",
		Headers:   map[string]string{"X-Tenant": "acme"},
		BasicAuth: &webhook.BasicAuth{Username: "tributary", Password: "hunter2-pass"},
		Token:     "tok-123456",
		Secrets:   []string{secretA, secretB},
	})
	payload := `{"id":"evt-1","door":"front"}`
	if err := p.Publish("crm", event("evt-1", payload)); err != nil {
		t.Fatal(err)
	}
	reqs := rc.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	user, pass, _ := (&http.Request{Header: r.Header}).BasicAuth()
	checks := map[string][2]string{
		"method":          {r.Method, http.MethodPost},
		"path":            {r.Path, "/hooks"},
		"body":            {r.Body, payload},
		"content-type":    {r.Header.Get("Content-Type"), "application/json"},
		"custom header":   {r.Header.Get("X-Tenant"), "acme"},
		"token":           {r.Header.Get("token"), "tok-123456"},
		"basic user":      {user, "tributary"},
		"basic password":  {pass, "hunter2-pass"},
		"idempotency-key": {r.Header.Get("Idempotency-Key"), "evt-1"},
		"webhook-id":      {r.Header.Get("webhook-id"), "evt-1"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	// Each secret alone verifies the request: rotation.
	for _, s := range []string{secretA, secretB} {
		sec, _ := signature.ParseSecret(s)
		if err := (signature.Verifier{Secrets: []signature.Secret{sec}}).Verify(r.Header, []byte(r.Body)); err != nil {
			t.Errorf("signature does not verify with one of the secrets: %v", err)
		}
	}
	if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("%d signatures, want one per secret", n)
	}
}

func TestPutAddressedByEventID(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	p := newSink(t, webhook.Config{URL: rc.URL + "/comments/{id}", Method: "PUT"})
	if err := p.Publish("crm", event("c/42 ü", `{}`)); err != nil {
		t.Fatal(err)
	}
	r := rc.Requests()[0]
	if r.Method != http.MethodPut || r.Path != "/comments/c%2F42%20%C3%BC" {
		t.Fatalf("%s %s, want PUT /comments/c%%2F42%%20%%C3%%BC", r.Method, r.Path)
	}
}

func TestIdempotencyKeyStableAcrossRetries(t *testing.T) {
	t.Parallel()
	const failures = 3
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= failures {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	p := newSink(t, webhook.Config{URL: rc.URL, Secrets: []string{secretA}, Breaker: webhook.BreakerConfig{Disabled: true}})
	msg := event("evt-retry", `{"n":1}`)
	var errs int
	for {
		err := p.Publish("crm", msg.Copy())
		if err == nil {
			break
		}
		if middleware.IsPermanent(err) {
			t.Fatalf("503 must be transient: %v", err)
		}
		errs++
		if errs > failures {
			t.Fatalf("still failing after %d attempts: %v", errs, err)
		}
	}
	reqs := rc.Requests()
	if len(reqs) != failures+1 {
		t.Fatalf("%d requests, want %d", len(reqs), failures+1)
	}
	for i, r := range reqs {
		if r.Header.Get("Idempotency-Key") != "evt-retry" || r.Header.Get("webhook-id") != "evt-retry" {
			t.Fatalf("attempt %d: Idempotency-Key %q webhook-id %q", i, r.Header.Get("Idempotency-Key"), r.Header.Get("webhook-id"))
		}
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	type want struct {
		ok, permanent bool
		retryAfter    time.Duration // >0: RetryAfter with this wait
		disabled      bool
		outcome       webhook.Outcome
	}
	tests := []struct {
		name   string
		handle func(int, http.ResponseWriter, *http.Request)
		want   want
	}{
		{"200", status(200), want{ok: true, outcome: webhook.OutcomeSuccess}},
		{"204", status(204), want{ok: true, outcome: webhook.OutcomeSuccess}},
		{"302 not followed", func(_ int, w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/elsewhere" {
				w.WriteHeader(200)
				return
			}
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, want{outcome: webhook.OutcomeTransient}},
		{"400", status(400), want{permanent: true, outcome: webhook.OutcomePermanent}},
		{"401", status(401), want{permanent: true, outcome: webhook.OutcomePermanent}},
		{"404", status(404), want{permanent: true, outcome: webhook.OutcomePermanent}},
		{"422", status(422), want{permanent: true, outcome: webhook.OutcomePermanent}},
		{"408", status(408), want{outcome: webhook.OutcomeTransient}},
		{"429 Retry-After seconds", func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		}, want{retryAfter: 7 * time.Second, outcome: webhook.OutcomeTransient}},
		{"429 without Retry-After", status(429), want{outcome: webhook.OutcomeTransient}},
		{"503 Retry-After date", func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
		}, want{retryAfter: 90 * time.Second, outcome: webhook.OutcomeTransient}},
		{"500", status(500), want{outcome: webhook.OutcomeTransient}},
		{"502", status(502), want{outcome: webhook.OutcomeTransient}},
		{"410 disables", status(410), want{permanent: true, disabled: true, outcome: webhook.OutcomeGone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, tt.handle)
			log := &memLog{}
			p := newSink(t, webhook.Config{URL: rc.URL, Log: log})
			err := p.Publish("crm", event("evt", `{}`))
			if (err == nil) != tt.want.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.want.ok)
			}
			if got := middleware.IsPermanent(err); got != tt.want.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, got, tt.want.permanent)
			}
			d, ok := middleware.RetryAfterOf(err)
			if tt.want.retryAfter > 0 {
				// An HTTP date has whole seconds; allow for them and a slow machine.
				if !ok || d < tt.want.retryAfter-3*time.Second || d > tt.want.retryAfter {
					t.Fatalf("RetryAfter = %v, %v; want ~%v", d, ok, tt.want.retryAfter)
				}
			} else if ok {
				t.Fatalf("unexpected RetryAfter %v", d)
			}
			if p.Disabled() != tt.want.disabled {
				t.Fatalf("Disabled = %v", p.Disabled())
			}
			if a := log.All(); len(a) != 1 || a[0].Outcome != tt.want.outcome {
				t.Fatalf("log %+v, want one %s attempt", a, tt.want.outcome)
			}
			if rc.Count() != 1 {
				t.Fatalf("%d requests: redirects must not be followed", rc.Count())
			}
		})
	}
}

func TestGoneDisablesEndpointUntilEnabled(t *testing.T) {
	t.Parallel()
	var gone atomic.Bool
	gone.Store(true)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	log := &memLog{}
	p := newSink(t, webhook.Config{URL: rc.URL, Log: log})
	if err := p.Publish("crm", event("a", `{}`)); !errors.Is(err, webhook.ErrEndpointDisabled) || !middleware.IsPermanent(err) {
		t.Fatalf("410: %v", err)
	}
	for _, id := range []string{"b", "c"} {
		if err := p.Publish("crm", event(id, `{}`)); !errors.Is(err, webhook.ErrEndpointDisabled) || !middleware.IsPermanent(err) {
			t.Fatalf("disabled endpoint: %v", err)
		}
	}
	if rc.Count() != 1 {
		t.Fatalf("%d requests to a disabled endpoint, want only the first", rc.Count())
	}
	if a := log.All(); a[2].Outcome != webhook.OutcomeDisabled || a[2].StatusCode != 0 {
		t.Fatalf("log: %+v", a[2])
	}
	gone.Store(false)
	p.Enable()
	if err := p.Publish("crm", event("b", `{}`)); err != nil {
		t.Fatalf("after Enable: %v", err)
	}
}

func TestHangingReceiverTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	log := &memLog{}
	p := newSink(t, webhook.Config{URL: rc.URL, Timeout: 150 * time.Millisecond, Log: log})
	err := p.Publish("crm", event("slow", `{}`))
	if err == nil || middleware.IsPermanent(err) || !strings.Contains(err.Error(), "no response within 150ms") {
		t.Fatalf("hang: err = %v, want a transient timeout", err)
	}
	if a := log.All()[0]; a.Outcome != webhook.OutcomeTransient || a.Latency < 150*time.Millisecond {
		t.Fatalf("log %+v", a)
	}
}

// TestConnectionProblemsAreTransient: a connection closed before or in the
// middle of the response, and a refused connection, are all retried.
func TestConnectionProblemsAreTransient(t *testing.T) {
	t.Parallel()
	hijack := func(partial string) func(int, http.ResponseWriter, *http.Request) {
		return func(_ int, w http.ResponseWriter, _ *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			_, _ = buf.WriteString(partial)
			_ = buf.Flush()
			_ = conn.Close()
		}
	}
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	tests := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"closed before the response", func(t *testing.T) string { return newReceiver(t, hijack("")).URL }},
		{"closed mid-headers", func(t *testing.T) string { return newReceiver(t, hijack("HTTP/1.1 200 OK\r\nContent-Le")).URL }},
		{"closed mid-body", func(t *testing.T) string {
			return newReceiver(t, hijack("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":")).URL
		}},
		{"closed mid-body, past the logged part", func(t *testing.T) string {
			return newReceiver(t, hijack("HTTP/1.1 200 OK\r\nContent-Length: 9000\r\n\r\n"+strings.Repeat("x", 3000))).URL
		}},
		{"connection refused", func(*testing.T) string { return refused }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newSink(t, webhook.Config{URL: tt.url(t)})
			err := p.Publish("crm", event("x", `{}`))
			if err == nil || middleware.IsPermanent(err) {
				t.Fatalf("err = %v, want transient", err)
			}
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if healthy.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	log := &memLog{}
	p := newSink(t, webhook.Config{URL: rc.URL, Log: log, Breaker: webhook.BreakerConfig{Failures: 3, Cooldown: 300 * time.Millisecond}})
	for i := 0; i < 3; i++ {
		if err := p.Publish("crm", event("e", `{}`)); err == nil {
			t.Fatal("500 accepted")
		}
	}
	// Open: fail fast, no request, a RetryAfter up to the cooldown.
	err := p.Publish("crm", event("e", `{}`))
	d, ok := middleware.RetryAfterOf(err)
	if !errors.Is(err, webhook.ErrCircuitOpen) || !ok || d <= 0 || d > 300*time.Millisecond || middleware.IsPermanent(err) {
		t.Fatalf("open breaker: %v (retry after %v %v)", err, d, ok)
	}
	if rc.Count() != 3 {
		t.Fatalf("%d requests through an open breaker", rc.Count())
	}
	// Half-open: a failing probe opens it again.
	time.Sleep(d + 20*time.Millisecond)
	if err := p.Publish("crm", event("e", `{}`)); err == nil || errors.Is(err, webhook.ErrCircuitOpen) {
		t.Fatalf("probe: %v, want the receiver's 500", err)
	}
	if err := p.Publish("crm", event("e", `{}`)); !errors.Is(err, webhook.ErrCircuitOpen) {
		t.Fatalf("after a failed probe: %v, want open", err)
	}
	// A successful probe closes it.
	healthy.Store(true)
	time.Sleep(320 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if err := p.Publish("crm", event("e", `{}`)); err != nil {
			t.Fatalf("closed again, publish %d: %v", i, err)
		}
	}
	var open int
	for _, a := range log.All() {
		if a.Outcome == webhook.OutcomeCircuitOpen {
			open++
		}
	}
	if open != 2 || rc.Count() != 7 {
		t.Fatalf("%d fail-fasts and %d requests, want 2 and 7", open, rc.Count())
	}
}

// TestBreakerKeepsScheduleRhythm: with Config.Schedule, a fail-fast asks for
// no less than the schedule's next delay, so an open breaker does not burn
// through the retries.
func TestBreakerKeepsScheduleRhythm(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, status(500))
	p := newSink(t, webhook.Config{URL: rc.URL, Schedule: middleware.List(time.Minute, time.Hour),
		Breaker: webhook.BreakerConfig{Failures: 1, Cooldown: time.Second}})
	_ = p.Publish("crm", event("e", `{}`))
	msg := event("e", `{}`)
	msg.Metadata.Set(middleware.MetaAttempts, "1")
	d, _ := middleware.RetryAfterOf(p.Publish("crm", msg))
	if d != time.Hour {
		t.Fatalf("fail-fast waits %v, want the schedule's next delay 1h", d)
	}
}

func TestMaxInFlight(t *testing.T) {
	t.Parallel()
	var cur, peak atomic.Int32
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		cur.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	p := newSink(t, webhook.Config{URL: rc.URL, MaxInFlight: 2})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Publish("crm", event("e", `{}`)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if peak.Load() != 2 {
		t.Fatalf("peak concurrency %d, want 2", peak.Load())
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	p := newSink(t, webhook.Config{URL: rc.URL, RateLimit: 20, RateBurst: 1}) // one per 50 ms
	for i := 0; i < 5; i++ {
		if err := p.Publish("crm", event("e", `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Five requests at 20/s with a burst of one span at least 200 ms at the
	// client; arrival times may jitter a little.
	reqs := rc.Requests()
	if span := reqs[4].At.Sub(reqs[0].At); span < 170*time.Millisecond {
		t.Fatalf("5 requests arrived within %v at 20/s", span)
	}
}

func TestSSRFGuardRefusesAtDialTime(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	port := rc.Listener.Addr().(*net.TCPAddr).Port
	// localhost passes any URL check; the guard sees the resolved address.
	for _, u := range []string{rc.URL, "http://localhost:" + strconv.Itoa(port), "http://[::1]:" + strconv.Itoa(port)} {
		p, err := webhook.NewPublisher(webhook.Config{URL: u}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Publish("crm", event("e", `{}`))
		if !errors.Is(err, webhook.ErrForbiddenAddress) || !middleware.IsPermanent(err) {
			t.Fatalf("%s: err = %v, want permanent ErrForbiddenAddress", u, err)
		}
	}
	if rc.Count() != 0 {
		t.Fatalf("guard let %d requests through", rc.Count())
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		token    = "tok-SECRET-token-value"
		password = "pw-SECRET-password"
		qsecret  = "qs-SECRET-query-value"
		upass    = "up-SECRET-url-password"
	)
	// The receiver echoes every header back, and refuses.
	echo := func(code int) func(int, http.ResponseWriter, *http.Request) {
		return func(_ int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(r.Header)
			_, _ = w.Write([]byte(r.URL.RawQuery))
		}
	}
	secrets := []string{token, password, qsecret, upass, secretA, strings.TrimPrefix(secretA, "whsec_")}
	for _, code := range []int{400, 503} {
		rc := newReceiver(t, echo(code))
		log := &memLog{}
		logger := &pipelinetest.Logger{}
		u := strings.Replace(rc.URL, "http://", "http://user:"+upass+"@", 1) + "/hook?key=" + qsecret
		p, err := webhook.NewPublisher(webhook.Config{
			URL: u, Token: token, BasicAuth: &webhook.BasicAuth{Username: "u", Password: password},
			Secrets: []string{secretA}, Log: log, AllowPrivateNetworks: true,
		}, logger)
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		p.Instrument(reg, "leaks", "leaky")
		perr := p.Publish("leaky", event("e", `{}`))
		if perr == nil {
			t.Fatal("want an error")
		}
		if m := metricsText(t, reg); !strings.Contains(m, "tributary_webhook_attempts_total outcome=") || !strings.Contains(m, "pipeline=leaks sink=leaky") {
			t.Fatalf("attempt not counted under its pipeline and sink:\n%s", m)
		}
		a := log.All()[0]
		if !strings.Contains(a.ResponseBody, "[redacted]") {
			t.Fatalf("response body not scrubbed: %s", a.ResponseBody)
		}
		for _, s := range secrets {
			for where, text := range map[string]string{
				"error": perr.Error(), "log": logger.String(), "endpoint": a.Endpoint, "log error": a.Error,
				"log body": a.ResponseBody, "result": p.Test(t.Context()).Reason, "metrics": metricsText(t, reg),
			} {
				if strings.Contains(text, s) {
					t.Fatalf("secret %q in %s: %s", s, where, text)
				}
			}
		}
	}
	// Connection errors, and a config that does not validate.
	_, err := webhook.NewPublisher(webhook.Config{URL: "ftp://u:" + upass + "@host/?k=" + qsecret, Secrets: []string{"whsec_!!" + qsecret}}, nil)
	if err == nil || strings.Contains(err.Error(), upass) || strings.Contains(err.Error(), qsecret) {
		t.Fatalf("config error leaks or is missing: %v", err)
	}
	p := newSink(t, webhook.Config{URL: "http://user:" + upass + "@127.0.0.1:1/?key=" + qsecret})
	if err := p.Publish("leaky", event("e", `{}`)); err == nil || strings.Contains(err.Error(), upass) || strings.Contains(err.Error(), qsecret) {
		t.Fatalf("connection error leaks or is missing: %v", err)
	}
}

func TestTestSend(t *testing.T) {
	t.Parallel()
	checking := func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("token") != "right-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	tests := []struct {
		name     string
		handle   func(int, http.ResponseWriter, *http.Request)
		token    string
		verified bool
		reason   string
	}{
		{"checks token", checking, "right-token", true, "ok"},
		{"does not check", status(200), "right-token", false, "wrong credentials was accepted"},
		{"answers 403", func(_ int, w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("token") != "right-token" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			w.WriteHeader(200)
		}, "right-token", false, "answered 403, want 401"},
		{"wrong configured token", checking, "stale-token", false, "right credentials answered 401"},
		{"no credentials", checking, "", false, "no credentials configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, tt.handle)
			p := newSink(t, webhook.Config{URL: rc.URL, Token: tt.token})
			res := p.Test(t.Context())
			if res.Verified != tt.verified || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("Test = %+v, want verified=%v reason containing %q", res, tt.verified, tt.reason)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  webhook.Config
		want string
	}{
		{"ok", webhook.Config{URL: "https://example.com/hook"}, ""},
		{"no URL", webhook.Config{}, "URL is required"},
		{"bad scheme", webhook.Config{URL: "ftp://example.com"}, "http or https"},
		{"PUT without id", webhook.Config{URL: "https://example.com/x", Method: "PUT"}, "needs {id}"},
		{"DELETE", webhook.Config{URL: "https://example.com/x", Method: "DELETE"}, "want POST or PUT"},
		{"bad secret", webhook.Config{URL: "https://example.com/x", Secrets: []string{"whsec_***"}}, "whsec_"},
		{"owned header", webhook.Config{URL: "https://example.com/x", Headers: map[string]string{"idempotency-key": "x"}}, "set by the sink"},
		{"token header", webhook.Config{URL: "https://example.com/x", Headers: map[string]string{"Token": "x"}}, "set by the sink"},
		{"bad schedule", webhook.Config{URL: "https://example.com/x", Schedule: middleware.Linear(0, 3)}, "step must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.NewPublisher(tt.cfg, nil)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSchedulePresets(t *testing.T) {
	t.Parallel()
	lin, _ := webhook.ParseSchedule("linear")
	for n := 1; n <= webhook.LinearRetries; n++ {
		if d, _ := lin.Delay(n); d != time.Duration(n)*time.Minute {
			t.Fatalf("linear retry %d waits %v", n, d)
		}
	}
	pk, _ := webhook.ParseSchedule("parakey")
	if pk.Len() != 5 || pk.Total() != 20*time.Minute {
		t.Fatalf("parakey: %d retries, last %v after the first failure; want 5 and 20m", pk.Len(), pk.Total())
	}
	std, _ := webhook.ParseSchedule("Standard")
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	if std.Len() != len(want) {
		t.Fatalf("standard: %d retries", std.Len())
	}
	for i, w := range want {
		if d, _ := std.Delay(i + 1); d != w {
			t.Fatalf("standard retry %d waits %v, want %v", i+1, d, w)
		}
	}
	list, err := webhook.ParseSchedule("10s, 1m,1h")
	if err != nil || list.Len() != 3 || list.Total() != time.Hour+70*time.Second {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, bad := range []string{"", "fast", "1m,-5s", "1m,,2m"} {
		if _, err := webhook.ParseSchedule(bad); err == nil {
			t.Fatalf("ParseSchedule(%q) accepted", bad)
		}
	}
}
