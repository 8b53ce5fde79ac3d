package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// memLog is a DeliveryLog in memory.
type memLog struct {
	mu       sync.Mutex
	attempts []webhook.Attempt
}

func (l *memLog) Record(_ context.Context, a webhook.Attempt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, a)
	return nil
}

func (l *memLog) All() []webhook.Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]webhook.Attempt(nil), l.attempts...)
}

// receiver is an httptest server whose behaviour a test scripts per request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	handle   func(n int, w http.ResponseWriter, r *http.Request) // n is 1-based
}

type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   string
	At     time.Time
}

func newReceiver(t testing.TB, handle func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{handle: handle}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.requests = append(rc.requests, recorded{r.Method, r.URL.EscapedPath(), r.Header.Clone(), string(b), time.Now()})
		n := len(rc.requests)
		rc.mu.Unlock()
		if rc.handle == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rc.handle(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) Requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.requests...)
}

func (rc *receiver) Count() int { rc.mu.Lock(); defer rc.mu.Unlock(); return len(rc.requests) }

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func newSink(t testing.TB, cfg webhook.Config) *webhook.Publisher {
	t.Helper()
	cfg.AllowPrivateNetworks = true // httptest listens on loopback
	p, err := webhook.NewPublisher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func event(id, payload string) *message.Message {
	msg := tributary.NewEventMessage(id, []byte(payload))
	msg.Metadata.Set(tributary.MetaPipeline, "doors")
	return msg
}

// scaled compresses a list schedule by factor (e.g. 1/3000: an hour becomes 1.2 s).
func scaled(s middleware.Schedule, factor float64) middleware.Schedule {
	out := middleware.List()
	for n := 1; n <= s.Len(); n++ {
		d, _ := s.Delay(n)
		out.Delays = append(out.Delays, time.Duration(float64(d)*factor))
	}
	return out
}
