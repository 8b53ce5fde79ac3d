package socketio_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// startServer runs a socketiotest server on loopback with fast keepalive.
func startServer(t testing.TB, cfg socketiotest.Config) (*socketiotest.Server, string) {
	t.Helper()
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 100 * time.Millisecond
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = time.Second // generous: a loaded CI machine must not see spurious pong timeouts
	}
	srv := socketiotest.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Drop()
		hs.Close()
	})
	return srv, hs.URL
}

// fastSocket is a client.Config with test-sized timeouts.
func fastSocket(url string) client.Config {
	return client.Config{
		URL: url,
		// Generous: under the race detector on a loaded machine a first
		// connection that gave up on its open packet left the server
		// holding a client that was about to vanish, and an event emitted
		// to it was lost (a socket cannot replay).
		OpenTimeout: 3 * time.Second,
		DialTimeout: 2 * time.Second,
		Backoff:     client.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond},
	}
}

// logBuffer captures every log line as text, for redaction checks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (watermill.LoggerAdapter, *logBuffer) {
	lb := &logBuffer{}
	return watermill.NewSlogLogger(slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))), lb
}

// collector acks every message and records it.
type collector struct {
	mu   sync.Mutex
	msgs []*message.Message
}

func collect(t *testing.T, ch <-chan *message.Message) *collector {
	t.Helper()
	c := &collector{}
	go func() {
		for m := range ch {
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			m.Ack()
		}
	}()
	return c
}

func (c *collector) all() []*message.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*message.Message(nil), c.msgs...)
}

func (c *collector) len() int { return len(c.all()) }

func (c *collector) types() map[string]int {
	out := map[string]int{}
	for _, m := range c.all() {
		out[m.Metadata.Get(tributary.MetaEventType)]++
	}
	return out
}

// subscribe builds a subscriber, subscribes and closes it at cleanup.
var sourceSeq atomic.Int64

func subscribe(t *testing.T, cfg socketio.Config, logger watermill.LoggerAdapter) (*socketio.Subscriber, <-chan *message.Message) {
	t.Helper()
	sub, err := socketio.NewSubscriber(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	// As a router does. Metrics are process-wide: a name of its own per
	// call keeps parallel tests and -count=N apart.
	sub.Instrument(testMetrics, "test", fmt.Sprintf("%s-%d", t.Name(), sourceSeq.Add(1)))
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = sub.Close()
	})
	return sub, ch
}

func waitJoined(t *testing.T, srv *socketiotest.Server, nsp string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitClients(ctx, nsp, n); err != nil {
		t.Fatal(err)
	}
}

// testMetrics is where subscribe instruments its sources (as pipeline
// "test"); each test names its source apart.
var testMetrics = prometheus.NewRegistry()

// metricsText renders testMetrics, for redaction checks.
func metricsText(t *testing.T) string {
	t.Helper()
	mfs, err := testMetrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
