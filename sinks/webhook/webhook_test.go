package webhook_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
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

// TestBreakerKeepsScheduleRhythm: the sink has no schedule of its own (the
// router's, router.Sink.Retry, is the only one, so the two cannot disagree);
// a fail-fast asks the router's Requeue for no less than the cooldown, and
// Requeue waits the longer of that and its schedule's next delay.
func TestBreakerKeepsScheduleRhythm(t *testing.T) {
	t.Parallel()
	if _, has := reflect.TypeFor[webhook.Config]().FieldByName("Schedule"); has {
		t.Fatal("webhook.Config has a Schedule again: the router's is the one schedule")
	}
	rc := newReceiver(t, status(500))
	p := newSink(t, webhook.Config{URL: rc.URL, Breaker: webhook.BreakerConfig{Failures: 1, Cooldown: time.Minute}})
	_ = p.Publish("crm", event("e", `{}`))
	var waits []time.Duration
	q := middleware.Requeue{
		Schedule: middleware.List(time.Second, time.Hour),
		Topic:    "retry",
		Publisher: func(*message.Message) (message.Publisher, error) {
			return gochannel.NewGoChannel(gochannel.Config{}, nil), nil
		},
		OnRequeue: func(_ *message.Message, _ int, wait time.Duration, _ error) { waits = append(waits, wait) },
	}
	deliver := q.Middleware(func(m *message.Message) ([]*message.Message, error) { return nil, p.Publish("crm", m) })
	for attempts, want := range []time.Duration{time.Minute, time.Hour} {
		msg := event("e", `{}`)
		msg.Metadata.Set(middleware.MetaAttempts, strconv.Itoa(attempts))
		if _, err := deliver(msg); err != nil {
			t.Fatal(err)
		}
		// Within the cooldown of a minute: a fail-fast. The first wait is the
		// cooldown's (the schedule says 1s), the second the schedule's 1h.
		if got := waits[len(waits)-1]; got < want-time.Second || got > want {
			t.Fatalf("attempt %d: requeued for %v, want about %v", attempts+1, got, want)
		}
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
	start := time.Now()
	for i := 0; i < 5; i++ {
		if err := p.Publish("crm", event("e", `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Five requests at 20/s with a burst of one take at least 200 ms at the
	// client, which waits before each send. (Measured at the client: on a
	// loaded machine the receiver's arrival times bunch up.)
	if took := time.Since(start); took < 190*time.Millisecond {
		t.Fatalf("5 requests sent within %v at 20/s", took)
	}
	if rc.Count() != 5 {
		t.Fatalf("%d requests arrived, want 5", rc.Count())
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
		{"no URL", webhook.Config{}, "url: is required"},
		{"bad scheme", webhook.Config{URL: "ftp://example.com"}, "http:// or https://"},
		{"PUT without id", webhook.Config{URL: "https://example.com/x", Method: "PUT"}, "needs {id}"},
		{"DELETE", webhook.Config{URL: "https://example.com/x", Method: "DELETE"}, "want POST or PUT"},
		{"bad secret", webhook.Config{URL: "https://example.com/x", Secrets: []string{"whsec_***"}}, "whsec_"},
		{"owned header", webhook.Config{URL: "https://example.com/x", Headers: map[string]string{"idempotency-key": "x"}}, "set by the sink"},
		{"token header", webhook.Config{URL: "https://example.com/x", Headers: map[string]string{"Token": "x"}}, "set by the sink"},
		{"negative cooldown", webhook.Config{URL: "https://example.com/x", Breaker: webhook.BreakerConfig{Cooldown: -time.Second}}, "breaker.cooldown: must not be negative"},
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

// TestLoggedHeadersAreRedacted: the delivery log keeps the headers each
// attempt sent, as the receiver got them, but with every credential — the
// signature, the token header, Basic auth, a credential-looking configured
// header, a configured secret forwarded from metadata — replaced.
func TestLoggedHeadersAreRedacted(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	log := &memLog{}
	p := newSink(t, webhook.Config{URL: rc.URL, Log: log, Secrets: []string{secretA}, Token: "tok-hdr-1234", TokenHeader: "X-Partner",
		BasicAuth:       &webhook.BasicAuth{Username: "u", Password: "basic-pw-99"},
		Headers:         map[string]string{"X-Api-Key": "key-abcdef", "X-Tenant": "acme"},
		MetadataHeaders: map[string]string{"X-Note": "note"}})
	msg := event("ev-h1", `{}`)
	msg.Metadata.Set("note", "carries tok-hdr-1234 along")
	if err := p.Publish("crm", msg); err != nil {
		t.Fatal(err)
	}
	got := log.All()[0].RequestHeaders
	sent := rc.Requests()[0].Header
	for k, want := range map[string]string{
		"Webhook-Id": "ev-h1", "Idempotency-Key": "ev-h1", "X-Tenant": "acme", "Content-Type": "application/json",
		"Webhook-Timestamp": sent.Get("Webhook-Timestamp"),
		"Webhook-Signature": "[redacted]", "X-Partner": "[redacted]", "Authorization": "[redacted]", "X-Api-Key": "[redacted]",
		"X-Note": "carries [redacted] along",
	} {
		if got[k] != want {
			t.Errorf("logged %s = %q, want %q", k, got[k], want)
		}
	}
	for k, v := range got {
		for _, secret := range []string{"tok-hdr-1234", "basic-pw-99", "key-abcdef", sent.Get("Webhook-Signature"), "dTpiYXNpYy1wdy05OQ"} {
			if strings.Contains(v, secret) {
				t.Errorf("logged header %s = %q shows a secret", k, v)
			}
		}
	}
}
