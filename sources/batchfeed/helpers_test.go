package batchfeed

import (
	"context"
	"fmt"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tributary-dev/tributary/tributarytest"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// feedEnv is a fake feed whose completes are checked against the pipeline
// topic: a complete for a batch with any notification not yet stored is a
// violation of the one promise this source makes.
type feedEnv struct {
	t        *testing.T
	pool     *pgxpool.Pool
	pipeline string
	fake     *feedfake.Fake
	srv      *httptest.Server

	mu         sync.Mutex
	violations []string
	checked    int
	after      func(op feedfake.Op, feed, batchID string) // called after the check, if set
}

// onEachRequest sets a hook run on every request after the safety check.
func (e *feedEnv) onEachRequest(fn func(op feedfake.Op, feed, batchID string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.after = fn
}

func newFeedEnv(t *testing.T, pool *pgxpool.Pool, pipeline string, cfg feedfake.Config) *feedEnv {
	t.Helper()
	e := &feedEnv{t: t, pool: pool, pipeline: pipeline}
	cfg.OnRequest = e.onRequest
	e.fake = feedfake.New(cfg)
	e.srv = httptest.NewServer(e.fake)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *feedEnv) onRequest(r *http.Request, op feedfake.Op, feed, batchID string) {
	defer func() {
		e.mu.Lock()
		after := e.after
		e.mu.Unlock()
		if after != nil {
			after(op, feed, batchID)
		}
	}()
	if op != feedfake.OpComplete {
		return
	}
	b := e.fake.Current(feed)
	if b == nil || b.BatchID != batchID {
		return // the fake answers 404 and completes nothing
	}
	ids := make([]string, len(b.Notifications))
	for i, n := range b.Notifications {
		ids[i] = n.ID
	}
	// Not the request's context: a client killed mid-request must not void
	// the check of what it had stored when it asked.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	stored, err := pipelinetest.TopicCount(ctx, e.pool, e.pipeline, ids)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checked++
	if err != nil {
		e.violations = append(e.violations, fmt.Sprintf("complete %s/%s: check topic: %v", feed, batchID, err))
	} else if stored != len(ids) {
		e.violations = append(e.violations, fmt.Sprintf("complete %s/%s with %d of %d notifications stored", feed, batchID, stored, len(ids)))
	}
}

// assertSafeCompletes fails t if any complete came before its batch was stored.
func (e *feedEnv) assertSafeCompletes() {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.violations) > 0 {
		e.t.Fatalf("unsafe completes: %v", e.violations)
	}
	if e.checked == 0 {
		e.t.Fatal("no complete was checked")
	}
}

func (e *feedEnv) config(feed string) Config {
	return Config{
		BaseURL: e.srv.URL, FeedID: feed,
		RequestTimeout: 500 * time.Millisecond,
		PollInterval:   50 * time.Millisecond,
		Backoff:        Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
	}
}

func notificationIDs(ns []feedfake.Notification) []string {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	return ids
}

// filterPrefix keeps the ids starting with p, in order.
func filterPrefix(ids []string, p string) []string {
	var out []string
	for _, id := range ids {
		if len(id) >= len(p) && id[:len(p)] == p {
			out = append(out, id)
		}
	}
	return out
}

// subscribe starts s with the test kit's Emit (tributarytest.Start): its
// messages come on the channel, a batch stored once every message of it
// is acked; stop stops it.
func subscribe(ctx context.Context, s *Source) (<-chan *message.Message, error) {
	r, err := tributarytest.Start(ctx, s)
	if err != nil {
		return nil, err
	}
	runs.Store(s, r)
	return r.Messages, nil
}

var runs sync.Map // *Source → *tributarytest.Run

func stop(s *Source) error {
	if r, ok := runs.LoadAndDelete(s); ok {
		return r.(*tributarytest.Run).Stop()
	}
	return nil
}

// startPipeline runs a router with one pipeline of the given sources into a
// recording sink until the test ends.
func startPipeline(t *testing.T, pool *pgxpool.Pool, name string, srcs ...*Source) *pipelinetest.Sink {
	t.Helper()
	sink := pipelinetest.NewSink(nil)
	p := router.Pipeline{Name: name, Sinks: []router.Sink{{Name: "rec", Publisher: sink}}}
	for _, s := range srcs {
		p.Sources = append(p.Sources, router.Source{Name: s.cfg.FeedID, Source: s})
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Metrics: testMetrics}, p)
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	return sink
}

func newTestSource(t testing.TB, cfg Config) *Source {
	t.Helper()
	s, err := NewSource(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL")
	}
	return pgtest.NewPool(t)
}
