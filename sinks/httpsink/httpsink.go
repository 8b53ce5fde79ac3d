// Package httpsink is the http sink: it POSTs each event's payload to a URL
// and records every attempt in the delivery log. It is deliberately plain
// (no signatures, no endpoint state); sinks/webhook is the signed one.
package httpsink

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/redact"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/tracing"
)

// Config configures the http sink: the `options:` of an `http` sink.
type Config struct {
	// URL receives the POSTs (http or https).
	URL string `yaml:"url"`
	// Headers are added to every request (use ${ENV} for secrets).
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one request; 10 s when zero.
	Timeout time.Duration `yaml:"timeout"`
	// AllowPrivateNetworks turns the SSRF guard off, as on the webhook sink
	// (webhook.DialControl): with it on (the default) the sink refuses to
	// connect to loopback, private, link-local and every other
	// special-purpose address, whatever the URL's name resolves to, and
	// ignores HTTP(S)_PROXY. Set it for a receiver on your own network.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
}

// Validate implements Validator.
func (o *Config) Validate() error {
	var errs []error
	if u, err := url.Parse(o.URL); o.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Never quote the URL: its query may hold a token.
		errs = append(errs, tributary.Option("url", "required; want an absolute http:// or https:// URL"))
	}
	if o.Timeout < 0 {
		errs = append(errs, tributary.Option("timeout", "must not be negative"))
	}
	return errors.Join(errs...)
}

// Sink is a message.Publisher that POSTs events.
type Sink struct {
	opts           Config
	pipeline, name string
	log            *deliverylog.Postgres
	client         *http.Client
	logger         watermill.LoggerAdapter
	// scrub hides the URL's and the secret-looking headers' credentials in
	// the response bodies the delivery log keeps (a receiver may echo them).
	scrub redact.Replacer
	// MetadataHeaders are set by the sink's transform (header → metadata
	// key): each request carries them from the event's metadata.
	MetadataHeaders map[string]string
}

// New returns an http sink; pool may be nil (no delivery log).
func New(o Config, pipeline, name string, pool *pgxpool.Pool, logger watermill.LoggerAdapter) *Sink {
	o.Timeout = cmp.Or(o.Timeout, 10*time.Second)
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	var log *deliverylog.Postgres
	if pool != nil {
		log = deliverylog.NewPostgres(pool)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !o.AllowPrivateNetworks {
		// The webhook sink's guard, at dial time; a proxy would dial for
		// us, past it.
		dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: webhook.DialControl}
		tr.DialContext, tr.Proxy = dialer.DialContext, nil
	}
	return &Sink{opts: o, pipeline: pipeline, name: name, log: log, logger: logger,
		scrub: redact.New("[redacted]", redact.URL(o.URL), redact.Headers(o.Headers)),
		client: &http.Client{
			Timeout:   o.Timeout,
			Transport: tr,
			// A redirect is a failure (Standard Webhooks): never follow one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

// Publish implements message.Publisher.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if err := s.deliver(m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) deliver(m *message.Message) error {
	ctx := m.Context()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.URL, bytes.NewReader(m.Payload))
	if err != nil {
		return middleware.Permanent(fmt.Errorf("http sink: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tributary")
	req.Header.Set("X-Tributary-Event-Id", tributary.EventID(m))
	req.Header.Set("X-Tributary-Event-Type", m.Metadata.Get(tributary.MetaEventType))
	req.Header.Set("X-Tributary-Source", m.Metadata.Get(tributary.MetaSource))
	req.Header.Set("X-Tributary-Pipeline", s.pipeline)
	if tp := m.Metadata.Get(tracing.MetaTraceparent); tracing.Parse(tp).IsValid() {
		req.Header.Set("traceparent", tp)
		if ts := m.Metadata.Get(tracing.MetaTracestate); ts != "" {
			req.Header.Set("tracestate", ts)
		}
	}
	for k, v := range s.opts.Headers {
		req.Header.Set(k, v)
	}
	for h, key := range s.MetadataHeaders {
		if v := m.Metadata.Get(key); v != "" {
			req.Header.Set(h, v)
		}
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	latency := time.Since(start)
	var status int
	var body string
	// The delivery log speaks one vocabulary, the webhook sink's, so that
	// `deliveries list --outcome` means the same for every sink.
	outcome := deliverylog.OutcomeSuccess
	var result error
	if err != nil {
		// The client's error quotes the URL, whose query may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactURL(ue.URL)
		}
		outcome, result = deliverylog.OutcomeTransient, fmt.Errorf("http sink: %w", err)
		if errors.Is(err, webhook.ErrForbiddenAddress) {
			// Retrying cannot help: the URL is the operator's to change.
			outcome, result = deliverylog.OutcomePermanent, middleware.Permanent(result)
		}
	} else {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		status, body = resp.StatusCode, string(b)
		switch {
		case status >= 200 && status < 300:
		case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
			outcome, result = deliverylog.OutcomeTransient, fmt.Errorf("http sink: receiver answered %d", status)
			if after, ok := middleware.ParseRetryAfter(resp.Header, time.Now()); ok {
				result = middleware.RetryAfter(result, after)
			}
		default:
			outcome, result = deliverylog.OutcomePermanent, middleware.Permanent(fmt.Errorf("http sink: receiver answered %d", status))
		}
	}
	s.record(context.WithoutCancel(ctx), m, latency, status, outcome, result, body)
	return result
}

func (s *Sink) record(ctx context.Context, m *message.Message, latency time.Duration, status int, outcome deliverylog.Outcome, failure error, body string) {
	if s.log == nil {
		return
	}
	errText := ""
	if failure != nil {
		errText = failure.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.log.Record(ctx, deliverylog.Attempt{
		Pipeline: s.pipeline, Sink: s.name, Endpoint: redactURL(s.opts.URL), EventID: tributary.EventID(m),
		MessageUUID: m.UUID, Attempt: middleware.Attempts(m) + 1, Latency: latency, StatusCode: status,
		Outcome: outcome, Error: s.scrub.Replace(errText), ResponseBody: s.scrub.Replace(body),
	})
	if err != nil {
		s.logger.Error("Recording delivery attempt failed", err, watermill.LogFields{"event_id": tributary.EventID(m)})
	}
}

// redactURL drops credentials and the query (which may carry a token).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// Close implements message.Publisher.
func (s *Sink) Close() error {
	if s.log != nil {
		return deliverylog.Flush(s.log)
	}
	return nil
}
