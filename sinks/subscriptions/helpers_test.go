package subscriptions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// receiver is a real HTTP receiver on loopback that checks the token header
// (401 without the right one) and records each event id it accepted.
type receiver struct {
	*httptest.Server
	token string

	mu      sync.Mutex
	got     map[string]int // event id → accepted deliveries
	bodies  []string
	refused int
	hang    chan struct{} // non-nil: every request waits for it to close
	delay   time.Duration // each answer's
}

func newReceiver(t testing.TB, token string) *receiver {
	rc := &receiver{token: token, got: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		hang, delay := rc.hang, rc.delay
		rc.mu.Unlock()
		time.Sleep(delay)
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.token != "" && r.Header.Get("token") != rc.token {
			rc.refused++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.got[r.Header.Get("Webhook-Id")]++
		rc.bodies = append(rc.bodies, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() {
		rc.mu.Lock()
		if rc.hang != nil {
			select {
			case <-rc.hang:
			default:
				close(rc.hang)
			}
		}
		rc.mu.Unlock()
		rc.Close()
	})
	return rc
}

func (rc *receiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.got[id]
}

func (rc *receiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func (rc *receiver) ids() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.got))
	for k, v := range rc.got {
		out[k] = v
	}
	return out
}

// newSink starts a subscriptions sink for pipeline p, sink "hooks", with
// quick polls, on loopback receivers.
func newSink(t testing.TB, pool *pgxpool.Pool, p string, edit ...func(*subscriptions.Config)) *subscriptions.Sink {
	t.Helper()
	cfg := subscriptions.Config{Pool: pool, Pipeline: p, Sink: "hooks", AllowPrivateNetworks: true,
		PollInterval: 100 * time.Millisecond, Refresh: 500 * time.Millisecond, Retry: "200ms,500ms,1s", Timeout: 5 * time.Second}
	for _, f := range edit {
		f(&cfg)
	}
	s, err := subscriptions.NewSink(cfg, watermill.NewStdLogger(os.Getenv("TEST_DEBUG") != "", false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func addEndpoint(t testing.TB, store *subscriptions.Store, ep subscriptions.Endpoint) subscriptions.Endpoint {
	t.Helper()
	if ep.Sink == "" {
		ep.Sink = "hooks"
	}
	out, err := store.Create(context.Background(), ep, "test")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitIndexed waits until the sink delivers to endpoint id (or, with
// want false, no longer does).
func waitIndexed(t testing.TB, s *subscriptions.Sink, id string, want bool) {
	t.Helper()
	pipelinetest.WaitFor(t, 30*time.Second, fmt.Sprintf("the sink to see endpoint %s enabled=%v", id, want), func() bool {
		ids, _ := s.Endpoints()
		for _, x := range ids {
			if x == id {
				return want
			}
		}
		return !want
	})
}

// event returns a message of type typ with the given fields as its payload.
func event(id, typ string, fields map[string]any) *message.Message {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["id"] = id
	b, _ := json.Marshal(fields)
	m := tributary.NewEventMessage(id, b)
	m.Metadata.Set(tributary.MetaEventType, typ)
	return m
}

func publish(t testing.TB, s *subscriptions.Sink, msgs ...*message.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := s.Publish("hooks", m); err != nil {
			t.Fatal(err)
		}
	}
}

type goneHandler struct{}

func (goneHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }

var breakerOff = webhook.BreakerConfig{Disabled: true}
