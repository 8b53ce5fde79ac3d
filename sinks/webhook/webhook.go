// Package webhook is a sink that delivers each event as an HTTP request to
// one endpoint (one Publisher per endpoint): POST, or PUT addressed by the
// event id; JSON body = the event payload; Basic auth, a secret token header
// and Standard Webhooks signatures; a stable Idempotency-Key / webhook-id.
//
// It classes every outcome for the router's retry machinery — 2xx success;
// 3xx (never followed), 408, 429, 5xx, timeouts and connection errors
// transient, with Retry-After honoured; 410 disables the endpoint; any other
// 4xx permanent — and isolates its endpoint (max in flight, rate limit,
// circuit breaker) so a dead receiver costs the healthy ones nothing. Every
// attempt can be recorded in the delivery log (PostgresLog), and the
// endpoint's enabled/disabled state kept in Postgres (PostgresEndpoints), so
// a 410 holds across restarts and for every instance.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/propagation"
	"golang.org/x/time/rate"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/tracing"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// ErrEndpointDisabled is returned (as a permanent error) for every message
// once the endpoint answered 410 Gone or an operator disabled it, until it
// is enabled again. The messages go to the poison queue, from which they can
// be replayed.
var ErrEndpointDisabled = errors.New("webhook: endpoint disabled")

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("webhook: publisher closed")

// Publisher delivers messages to one endpoint. It is safe for concurrent use.
type Publisher struct {
	cfg      Config
	logger   watermill.LoggerAdapter
	client   *http.Client
	secrets  []signature.Secret
	scrub    scrubber
	endpoint string // redacted, for logs
	inFlight chan struct{}
	limiter  *rate.Limiter
	breaker  *breaker
	states   *endpointCache
	closed   atomic.Bool
	metrics  atomic.Pointer[sinkMetrics]
	// urlAuth: the URL has user info, which the HTTP client sends as
	// Authorization.
	urlAuth bool
	// secretNames caches, per header name, whether its value is redacted
	// in the delivery log (header name → bool).
	secretNames sync.Map
}

// NewPublisher validates cfg and builds the endpoint's publisher with its own
// HTTP transport, so that connections to one endpoint never queue behind
// another's.
func NewPublisher(cfg Config, logger watermill.LoggerAdapter) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	secrets, _ := signature.ParseSecrets(cfg.Secrets) // validated above
	p := &Publisher{
		cfg:      cfg,
		secrets:  secrets,
		scrub:    newScrubber(cfg),
		endpoint: RedactURL(cfg.URL),
		inFlight: make(chan struct{}, cfg.MaxInFlight),
		breaker:  &breaker{cfg: cfg.Breaker, now: cfg.Now},
	}
	if u, err := url.Parse(cfg.URL); err == nil && u.User != nil {
		p.urlAuth = true
	}
	p.logger = logger.With(watermill.LogFields{"endpoint": p.endpoint})
	p.states = newEndpointCache(cfg, p.endpoint, p.logger)
	if cfg.RateLimit > 0 {
		p.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	p.client = newClient(cfg)
	p.metrics.Store(newSinkMetrics(nil, "", "")) // until the router instruments it with its names
	return p, nil
}

func newClient(cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: min(cfg.Timeout, 10*time.Second), KeepAlive: 30 * time.Second}
	proxy := http.ProxyFromEnvironment
	if !cfg.AllowPrivateNetworks {
		dialer.Control = DialControl
		proxy = nil // a proxy would dial for us, past the guard
	}
	tr := &http.Transport{
		Proxy:               proxy,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     cfg.TLSConfig.Clone(), // nil stays nil
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        cfg.MaxInFlight,
		MaxIdleConnsPerHost: cfg.MaxInFlight,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// No ResponseHeaderTimeout: each request's context already ends
		// after cfg.Timeout, and a second timer per request showed in the
		// hot path.
	}
	return &http.Client{
		Transport: tr,
		// Redirects are not followed: a 3xx is a failed delivery (Standard Webhooks).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Publish delivers msgs in order, stopping at the first failure. topic
// names the endpoint in the delivery log, metrics, logs and its
// enabled/disabled state: the router passes the sink's name (router.Sink),
// the one place it is written.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrClosed
	}
	for _, msg := range msgs {
		if err := p.deliver(topic, msg); err != nil {
			return err
		}
	}
	return nil
}

// Close releases idle connections. Publish fails afterwards.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	p.client.CloseIdleConnections()
	if p.cfg.Log != nil {
		return deliverylog.Flush(p.cfg.Log)
	}
	return nil
}

// Disabled reports whether the endpoint is disabled (for some pipeline), as
// this Publisher last saw it.
func (p *Publisher) Disabled() bool { return p.states.anyDisabled() }

// Enable forgets this Publisher's view of the endpoint's state. Without
// Config.State that re-enables it; with one, the stored state wins and is
// read again at the next delivery: enable it there (PostgresEndpoints.Enable,
// `tributary endpoints enable`). Replay its poisoned messages afterwards.
func (p *Publisher) Enable() { p.states.enable() }

// result is what one attempt came to.
type result struct {
	status  int
	outcome Outcome
	err     error // classified: nil, transient, RetryAfter or Permanent
	body    string
	latency time.Duration
	// sent is the request's header when a request was made (the delivery
	// log keeps it, redacted).
	sent http.Header
}

func (p *Publisher) deliver(name string, msg *message.Message) error {
	ctx := msg.Context()
	start := time.Now()
	pipeline := msg.Metadata.Get(tributary.MetaPipeline)
	var res result
	off, reason := p.states.disabled(ctx, pipeline, name)
	ok, wait := false, time.Duration(0)
	if !off {
		ok, wait = p.breaker.allow()
	}
	switch {
	case off:
		err := ErrEndpointDisabled
		if reason != "" {
			err = fmt.Errorf("%w (%s)", ErrEndpointDisabled, p.scrub.scrub(reason))
		}
		res = result{outcome: OutcomeDisabled, err: middleware.Permanent(err)}
	case !ok:
		// A floor, not a replacement: the router's schedule still sets
		// the rhythm, so an open breaker does not burn through the retries.
		res = result{outcome: OutcomeCircuitOpen, err: middleware.NotBefore(ErrCircuitOpen, wait)}
	default:
		res = p.attempt(ctx, msg)
		p.breaker.done(res.outcome == OutcomeTransient)
		if res.outcome == OutcomeGone {
			// After the response, in a statement of its own.
			p.states.disable(ctx, pipeline, name, fmt.Sprintf("answered 410 Gone to event %s at %s",
				tributary.EventID(msg), p.cfg.Now().UTC().Format(time.RFC3339)))
		}
	}
	res.latency = time.Since(start)
	p.observe(ctx, name, msg, res)
	return res.err
}

// attempt makes one request, within the endpoint's limits.
func (p *Publisher) attempt(ctx context.Context, msg *message.Message) result {
	select {
	case p.inFlight <- struct{}{}:
		defer func() { <-p.inFlight }()
	case <-ctx.Done():
		return result{outcome: OutcomeTransient, err: fmt.Errorf("webhook: waiting for a free slot: %w", ctx.Err())}
	}
	if p.limiter != nil {
		if err := p.limiter.Wait(ctx); err != nil {
			return result{outcome: OutcomeTransient, err: fmt.Errorf("webhook: rate limit: %w", err)}
		}
	}
	eventID := tributary.EventID(msg)
	rctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := p.newRequest(rctx, eventID, msg.Payload, p.secrets, p.cfg.Token, p.cfg.BasicAuth)
	if err != nil {
		return result{outcome: OutcomePermanent, err: middleware.Permanent(err)}
	}
	p.setMetadataHeaders(req.Header, msg.Metadata)
	res := p.do(req)
	res.sent = req.Header // the transport does not change it
	return res
}

// newRequest builds the request for an event with the given credentials (Test
// sends with wrong ones).
func (p *Publisher) newRequest(ctx context.Context, eventID string, body []byte, secrets []signature.Secret,
	token string, basic *BasicAuth) (*http.Request, error) {
	target := p.cfg.URL
	if strings.Contains(target, IDPlaceholder) {
		// "." and ".." would be path segments that receivers (and every
		// WHATWG URL parser, escaped as %2E or not) resolve to this
		// resource's collection or its parent: never a resource of its own.
		if eventID == "." || eventID == ".." || eventID == "" {
			return nil, fmt.Errorf("webhook %s: event id %q cannot stand for %s in the URL: it would address another resource", p.endpoint, eventID, IDPlaceholder)
		}
		target = strings.ReplaceAll(target, IDPlaceholder, url.PathEscape(eventID))
	}
	req, err := http.NewRequestWithContext(ctx, p.cfg.Method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook %s: build request for event %s failed", p.endpoint, eventID) // err quotes the URL
	}
	// Sized once, canonical keys written directly, values sharing one
	// array: Header.Set canonicalizes and allocates per header, a fifth of
	// the sink's own cost per request in its profile.
	h := make(http.Header, len(p.cfg.Headers)+8)
	vals := make([]string, 0, 7)
	set := func(key, v string) {
		vals = append(vals, v)
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	for k, v := range p.cfg.Headers {
		h.Set(k, v)
	}
	set("Content-Type", "application/json")
	set("User-Agent", "tributary-webhook/1")
	// The same on every retry of the event: receivers dedup on either.
	set("Idempotency-Key", eventID)
	set("Webhook-Id", eventID)
	unix := p.cfg.Now().Unix()
	set("Webhook-Timestamp", strconv.FormatInt(unix, 10))
	if len(secrets) > 0 {
		set("Webhook-Signature", signature.SignatureHeader(secrets, eventID, unix, body))
	}
	if token != "" {
		set(http.CanonicalHeaderKey(p.cfg.TokenHeader), token)
	}
	req.Header = h
	if basic != nil {
		req.SetBasicAuth(basic.Username, basic.Password)
	}
	return req, nil
}

// setMetadataHeaders forwards the event's W3C trace context, so the
// receiver's spans join the trace the source started (under the router's
// delivery-attempt span, which the router writes into the metadata), and
// the configured MetadataHeaders. None of them is signed: the signature
// covers the body. The trace context is parsed and written by otel's
// propagator: a malformed one is not passed on.
func (p *Publisher) setMetadataHeaders(h http.Header, meta message.Metadata) {
	tracing.Propagator.Inject(tracing.Extract(context.Background(), meta), propagation.HeaderCarrier(h))
	for header, key := range p.cfg.MetadataHeaders {
		if v := meta.Get(key); v != "" && validHeaderValue(v) {
			h.Set(header, v)
		}
	}
}

// do sends req and classes the response.
func (p *Publisher) do(req *http.Request) result {
	resp, err := p.client.Do(req)
	if err != nil {
		return p.connError(req.Context(), err)
	}
	defer resp.Body.Close()
	var head []byte
	var rerr error
	if resp.ContentLength != 0 {
		head, rerr = io.ReadAll(io.LimitReader(resp.Body, int64(p.cfg.MaxLoggedBody)))
	}
	if rerr == nil && resp.ContentLength != 0 {
		// Drain a little more so the connection can be reused (a larger body
		// is not worth reading), and notice a response that breaks off.
		_, rerr = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	res := classify(resp.StatusCode, resp.Header, p.cfg.Now())
	if len(head) > 0 {
		res.body = p.scrub.scrub(strings.ToValidUTF8(string(head), "\uFFFD"))
	}
	if rerr != nil && res.err == nil {
		// 2xx but the response broke off: the receiver may not have it.
		res.outcome = OutcomeTransient
		res.err = fmt.Errorf("reading response: %s", p.scrub.scrub(innerError(rerr).Error()))
	}
	if res.err != nil {
		res.err = fmt.Errorf("webhook %s: %w", p.endpoint, res.err)
	}
	return res
}

// connError classes a failed round trip. The net/http error quotes the
// request URL, so only its cause is kept.
func (p *Publisher) connError(ctx context.Context, err error) result {
	cause := innerError(err)
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return result{outcome: OutcomePermanent, err: middleware.Permanent(fmt.Errorf("webhook %s: %w", p.endpoint, ErrForbiddenAddress))}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return result{outcome: OutcomeTransient, err: fmt.Errorf("webhook %s: no response within %s", p.endpoint, p.cfg.Timeout)}
	}
	return result{outcome: OutcomeTransient, err: fmt.Errorf("webhook %s: %s", p.endpoint, p.scrub.scrub(cause.Error()))}
}

func innerError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// classify turns a status code into an outcome and a classed error.
func classify(status int, h http.Header, now time.Time) result {
	res := result{status: status}
	switch {
	case status >= 200 && status < 300:
		res.outcome = OutcomeSuccess
	case status == http.StatusGone:
		res.outcome = OutcomeGone
		res.err = middleware.Permanent(fmt.Errorf("%w (status %d)", ErrEndpointDisabled, status))
	case status >= 300 && status < 400:
		res.outcome = OutcomeTransient
		res.err = fmt.Errorf("status %d: redirect not followed", status)
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		res.outcome = OutcomeTransient
		res.err = fmt.Errorf("status %d", status)
		if d, ok := middleware.ParseRetryAfter(h, now); ok {
			res.err = middleware.RetryAfter(fmt.Errorf("status %d, retry after %s", status, d), d)
		}
	case status >= 400 && status < 500:
		res.outcome = OutcomePermanent
		res.err = middleware.Permanent(fmt.Errorf("status %d", status))
	default:
		res.outcome = OutcomeTransient
		res.err = fmt.Errorf("unexpected status %d", status)
	}
	return res
}

// observe logs, counts and records an attempt.
func (p *Publisher) observe(ctx context.Context, name string, msg *message.Message, res result) {
	m := p.metrics.Load()
	m.attempts.WithLabelValues(string(res.outcome)).Inc()
	m.open.Set(boolGauge(p.breaker.open()))
	m.disabled.Set(boolGauge(res.outcome == OutcomeDisabled || res.outcome == OutcomeGone))
	errText := ""
	if res.err != nil {
		errText = p.scrub.scrub(res.err.Error())
		p.logger.Debug("Webhook attempt failed", watermill.LogFields{
			"sink": name, "event_id": tributary.EventID(msg), "status": res.status, "outcome": res.outcome, "err": errText,
		})
	}
	if p.cfg.Log == nil {
		return
	}
	a := Attempt{
		Time:         p.cfg.Now().Add(-res.latency),
		Pipeline:     msg.Metadata.Get(tributary.MetaPipeline),
		Sink:         name,
		Endpoint:     p.endpoint,
		EventID:      tributary.EventID(msg),
		MessageUUID:  msg.UUID,
		Attempt:      middleware.Attempts(msg) + 1,
		Latency:      res.latency,
		StatusCode:   res.status,
		Outcome:      res.outcome,
		Error:        errText,
		ResponseBody: res.body,
	}
	if res.sent != nil {
		a.RequestHeaders = p.sentHeaders(res.sent)
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.cfg.Log.Record(lctx, a); err != nil {
		p.logger.Error("Recording webhook attempt failed", err, watermill.LogFields{"sink": name, "event_id": a.EventID})
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
