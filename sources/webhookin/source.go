// Package webhookin is a source that receives provider webhooks over HTTP
// (a POST per event). A Source is both an http.Handler, mountable in
// any http.ServeMux, and the message.Subscriber the router reads from.
//
// It answers 2xx only once the router has acked the event — that is, once
// the event is durably in the pipeline's topic — so a sender that gets a 2xx
// may forget the event. A nack is retried within AckTimeout; past it the
// answer is 503 and the sender's own retry redelivers. An event the
// database can never store (the router set it aside in its ingest
// quarantine) is answered 422: sending it again cannot help.
//
// A request's body must arrive within BodyTimeout, and at most
// MaxConcurrentRequests requests are handled at once (more are answered
// 503 without reading their body), so senders that trickle bodies hold at
// most MaxConcurrentRequests × MaxBodyBytes of body buffers (about twice
// that with chunked bodies), each for at most BodyTimeout.
//
// The event id is the webhook-id header, else the body's id field, else a
// hash of the body, so the router's dedup drops a sender's retries.
package webhookin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"go.opentelemetry.io/otel/propagation"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/httpauth"
	"github.com/tributary-dev/tributary/internal/namedlog"
	"github.com/tributary-dev/tributary/tracing"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// Metadata the source sets beside tributary.MetaEventID and MetaEventType.
const (
	MetaWebhookID        = "webhook_id"
	MetaWebhookTimestamp = "webhook_timestamp"
)

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("webhookin: source closed")

// Source receives webhooks. Only one subscription is active at a time (the
// router makes one); a new Subscribe replaces an ended one.
type Source struct {
	cfg      Config
	logger   *namedlog.Logger // named by Instrument, maybe while requests are served
	verifier *signature.Verifier
	metrics  atomic.Pointer[sourceMetrics]

	// slots holds a token per request being handled (MaxConcurrentRequests).
	slots chan struct{}

	mu     sync.RWMutex // held for reading while a request hands a message over
	sub    *subscription
	closed bool
	done   chan struct{} // closed by Close
	once   sync.Once
}

type subscription struct {
	out  chan *message.Message
	done chan struct{} // closed when the subscription ends
}

// NewSource validates cfg and builds a Source.
func NewSource(cfg Config, logger watermill.LoggerAdapter) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, logger: namedlog.New(logger, "source"), done: make(chan struct{}),
		slots: make(chan struct{}, cfg.MaxConcurrentRequests)}
	s.metrics.Store(newSourceMetrics(nil, "", ""))
	if len(cfg.Secrets) > 0 {
		secrets, _ := signature.ParseSecrets(cfg.Secrets) // validated
		s.verifier = &signature.Verifier{Secrets: secrets, Tolerance: cfg.Tolerance, Now: cfg.Now}
	}
	return s, nil
}

// Subscribe implements message.Subscriber. The channel is closed when ctx is
// cancelled or Close is called.
func (s *Source) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	sub := &subscription{out: make(chan *message.Message), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.sub != nil {
		s.mu.Unlock()
		return nil, errors.New("webhookin: already subscribed")
	}
	s.sub = sub
	s.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		close(sub.done) // wakes requests waiting to hand over
		s.mu.Lock()     // waits for those still inside the hand-over
		close(sub.out)
		if s.sub == sub {
			s.sub = nil
		}
		s.mu.Unlock()
	}()
	return sub.out, nil
}

// Close ends the subscription; requests are answered 503 from then on.
func (s *Source) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
	})
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var code int
	var reason string
	select {
	case s.slots <- struct{}{}:
		code, reason = s.serve(w, r)
		<-s.slots
	default:
		code, reason = http.StatusServiceUnavailable, "too many requests at once (max_concurrent_requests)"
		// The body is not read: close the connection rather than drain it.
		w.Header().Set("Connection", "close")
	}
	s.metrics.Load().requests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code >= 400 {
		s.logger.Info("Webhook refused", watermill.LogFields{"status": code, "reason": reason, "remote": r.RemoteAddr})
		if code == http.StatusUnauthorized && s.cfg.BasicAuth != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="tributary", charset="UTF-8"`)
		}
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		body := map[string]string{"error": http.StatusText(code)}
		if code == http.StatusUnprocessableEntity {
			// Only the sender's own event is described: what the
			// database refused in it.
			body["detail"] = reason
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	w.WriteHeader(code)
}

// serve returns the status to answer and, for a refusal, why (for the log:
// it names the check that failed, never a value).
func (s *Source) serve(w http.ResponseWriter, r *http.Request) (int, string) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		return http.StatusMethodNotAllowed, "method " + r.Method
	}
	// Credentials in headers are checked before the body is read: an
	// unauthenticated sender gets nothing more than a 401.
	if reason := s.checkHeaders(r); reason != "" {
		s.metrics.Load().Error("auth")
		return http.StatusUnauthorized, reason
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, "body over the size limit"
	}
	// The body has BodyTimeout from here (a server without a
	// ResponseController, such as a test recorder, has no deadline).
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, "body over the size limit"
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.Header().Set("Connection", "close")
			return http.StatusRequestTimeout, "body not received within body_timeout"
		}
		return http.StatusBadRequest, "reading body: " + err.Error()
	}
	// The deadline is for the body only: waiting for the ack is AckTimeout's.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	if s.verifier != nil {
		if err := s.verifier.Verify(r.Header, body); err != nil {
			s.metrics.Load().Error("auth")
			return http.StatusUnauthorized, err.Error()
		}
	}
	if !json.Valid(body) {
		s.metrics.Load().Error("malformed")
		return http.StatusBadRequest, "body is not JSON"
	}
	msg := s.message(r, body)
	code, reason := s.handOver(r.Context(), msg)
	if code < 300 {
		s.metrics.Load().Up.Set(1)
		s.metrics.Load().LastSuccess.SetToCurrentTime()
	}
	return code, reason
}

// readBody reads a body of the declared length into one buffer of that
// size (io.ReadAll would grow one, holding up to twice as much at once);
// a body of unknown length (chunked) is read with io.ReadAll.
func readBody(body io.Reader, length int64) ([]byte, error) {
	if length < 0 {
		return io.ReadAll(body)
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// checkHeaders checks Basic auth and the token header in constant time.
func (s *Source) checkHeaders(r *http.Request) string {
	if b := s.cfg.BasicAuth; b != nil {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "no Basic credentials"
		}
		// Both compared, always, so timing tells nothing about which was wrong.
		uok := equal(user, b.Username)
		pok := equal(pass, b.Password)
		if !uok || !pok {
			return "wrong Basic credentials"
		}
	}
	if s.cfg.Token != "" && !equal(s.tokenHeader(r), s.cfg.Token) {
		return "missing or wrong " + s.cfg.TokenHeader + " header"
	}
	return ""
}

// tokenHeader is the token header's value; in Authorization, whose scheme
// is case-insensitive, "bearer x" is taken as "Bearer x".
func (s *Source) tokenHeader(r *http.Request) string {
	v := r.Header.Get(s.cfg.TokenHeader)
	if strings.EqualFold(s.cfg.TokenHeader, "Authorization") {
		v = httpauth.SameScheme(v, s.cfg.Token)
	}
	return v
}

// equal compares hashes, so neither the content nor the length of the
// secret leaks through timing.
func equal(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

func (s *Source) message(r *http.Request, body []byte) *message.Message {
	fieldID, typ := tributary.EventFields(body, s.cfg.EventIDField, s.cfg.EventTypeField)
	id := r.Header.Get(signature.HeaderID)
	switch {
	case id != "":
	case fieldID != "":
		id = fieldID
	default:
		id = tributary.BodyID(body)
	}
	msg := tributary.NewEventMessage(id, body)
	if typ != "" {
		msg.Metadata.Set(tributary.MetaEventType, typ)
	}
	if v := r.Header.Get(signature.HeaderID); v != "" {
		msg.Metadata.Set(MetaWebhookID, v)
	}
	if v := r.Header.Get(signature.HeaderTimestamp); v != "" {
		msg.Metadata.Set(MetaWebhookTimestamp, v)
	}
	// otel's propagator parses the sender's trace context; a malformed one
	// is dropped (the event then starts a trace of its own).
	tracing.Inject(tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)), msg.Metadata)
	return msg
}

// handOver gives msg to the subscriber and waits until it is acked (stored),
// redelivering after a nack, for at most AckTimeout.
func (s *Source) handOver(ctx context.Context, msg *message.Message) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		m := msg.Copy()
		if code, reason := s.send(ctx, m); code != 0 {
			return code, reason
		}
		select {
		case <-m.Acked():
			if why := tributary.Quarantined(m); why != "" {
				s.metrics.Load().Error("unstorable")
				return http.StatusUnprocessableEntity, "the event can never be stored: " + why
			}
			return http.StatusOK, ""
		case <-m.Nacked():
			s.metrics.Load().Error("nacked")
			s.logger.Debug("Event nacked; redelivering", watermill.LogFields{"event_id": tributary.EventID(m), "attempt": attempt})
		case <-ctx.Done():
			return http.StatusServiceUnavailable, "not stored within the ack timeout"
		}
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, time.Second)
		case <-ctx.Done():
			return http.StatusServiceUnavailable, "nacked; not stored within the ack timeout"
		}
	}
}

// send hands m to the active subscription; a non-zero code means it could not.
func (s *Source) send(ctx context.Context, m *message.Message) (int, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sub == nil {
		return http.StatusServiceUnavailable, "no subscriber"
	}
	select {
	case s.sub.out <- m:
		return 0, ""
	case <-s.sub.done:
		return http.StatusServiceUnavailable, "source closed"
	case <-ctx.Done():
		return http.StatusServiceUnavailable, "no subscriber took the event in time"
	}
}
