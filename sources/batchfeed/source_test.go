package batchfeed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/tributarytest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
)

func TestStoresInBatchOrderThenCompletes(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	env := newFeedEnv(t, pool, "order", feedfake.Config{})
	want := env.fake.Generate("journey", 25)
	cfg := env.config("journey")
	// An hour between polls: only moreAvailable can make the source fetch
	// batches two and three; waiting the interval would time the test out.
	cfg.PollInterval = time.Hour
	completedN := counterDelta(t, "tributary_batchfeed_batches_completed_total", "order-journey")
	sink := startPipeline(t, pool, "order", newTestSource(t, cfg))

	pipelinetest.WaitFor(t, 30*time.Second, "all 25 notifications delivered", func() bool { return sink.Len() == 25 })
	pipelinetest.WaitFor(t, 10*time.Second, "the feed to be empty", func() bool { return env.fake.Pending("journey") == 0 })
	env.assertSafeCompletes()

	if got := pipelinetest.TopicIDs(t, pool, "order"); !slices.Equal(got, notificationIDs(want)) {
		t.Fatalf("topic order %v\nwant batch order %v", got, notificationIDs(want))
	}
	if c := env.fake.Completed("journey"); len(c) != 3 || len(env.fake.CompleteAttempts("journey")) != 3 {
		t.Fatalf("completed %v after attempts %v; want three batches, each completed once", c, env.fake.CompleteAttempts("journey"))
	}
	batches := env.fake.Completed("journey")
	for i, m := range sink.Messages() {
		n := want[i]
		md := m.Metadata
		wantMD := map[string]string{
			tributary.MetaEventID: n.ID, tributary.MetaEventType: n.EventType, MetaEventType: n.EventType,
			MetaWhen: n.When, MetaTenantID: n.TenantID, MetaCausationID: n.CausationID,
			MetaCorrelationID: n.CorrelationID, MetaRelativeURL: n.RelativeURL,
			MetaBatchID: batches[i/10], MetaFeedID: "journey", tributary.MetaSource: "journey",
		}
		for k, v := range wantMD {
			if md.Get(k) != v {
				t.Fatalf("message %d: metadata %s = %q, want %q", i, k, md.Get(k), v)
			}
		}
		if m.UUID != tributary.MessageUUID(n.ID) {
			t.Fatalf("message %d: UUID %s is not derived from the notification id", i, m.UUID)
		}
		var got feedfake.Notification
		if err := json.Unmarshal(m.Payload, &got); err != nil || got.ID != n.ID || string(got.Payload) != string(n.Payload) {
			t.Fatalf("message %d: payload %s: %v", i, m.Payload, err)
		}
	}
	if v := completedN(); v != 3 {
		t.Fatalf("batches completed metric = %v, want 3", v)
	}
}

func TestSeveralFeedsInOnePipeline(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	env := newFeedEnv(t, pool, "multi", feedfake.Config{})
	counts := map[string]int{"journey": 23, "document": 7, "screening": 15, "entitydata": 0}
	var srcs []*Source
	want := map[string][]string{}
	for _, feed := range []string{"journey", "document", "screening", "entitydata"} {
		want[feed] = notificationIDs(env.fake.Generate(feed, counts[feed]))
		srcs = append(srcs, newTestSource(t, env.config(feed)))
	}
	sink := startPipeline(t, pool, "multi", srcs...)
	pipelinetest.WaitFor(t, 30*time.Second, "45 notifications from three feeds", func() bool { return sink.Len() == 45 })
	pipelinetest.WaitFor(t, 10*time.Second, "every feed empty", func() bool {
		return env.fake.Pending("journey")+env.fake.Pending("document")+env.fake.Pending("screening") == 0
	})
	env.assertSafeCompletes()
	ids := pipelinetest.TopicIDs(t, pool, "multi")
	if len(ids) != 45 {
		t.Fatalf("topic holds %d events, want 45", len(ids))
	}
	for feed, w := range want {
		// Feeds interleave, but each keeps its own order.
		if got := filterPrefix(ids, feed+"-"); !slices.Equal(got, w) {
			t.Fatalf("feed %s in topic order %v, want %v", feed, got, w)
		}
		if !slices.Equal(env.fake.CompletedIDs(feed), w) {
			t.Fatalf("feed %s completed %v, want %v", feed, env.fake.CompletedIDs(feed), w)
		}
	}
	for _, m := range sink.Messages() {
		if !strings.HasPrefix(tributary.EventID(m), m.Metadata.Get(MetaFeedID)+"-") || m.Metadata.Get(tributary.MetaSource) != m.Metadata.Get(MetaFeedID) {
			t.Fatalf("message %s: feedId %q, source %q", tributary.EventID(m), m.Metadata.Get(MetaFeedID), m.Metadata.Get(tributary.MetaSource))
		}
	}
}

func TestCompleteFailingTwiceThenSucceeding(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	env := newFeedEnv(t, pool, "retry", feedfake.Config{})
	want := notificationIDs(env.fake.Generate("document", 15))
	// First a 500, then no answer at all (a timeout), then through.
	env.fake.Script("document", feedfake.OpComplete, &feedfake.Fault{Status: 500, Body: []byte(`{"title":"oops"}`)}, &feedfake.Fault{Hang: true})
	cfg := env.config("document")
	cfg.RequestTimeout = 200 * time.Millisecond
	retries := counterDelta(t, "tributary_batchfeed_complete_retries_total", "retry-document")
	e5xx := counterDelta(t, "tributary_source_errors_total", "retry-document", "complete_status_5xx")
	etimeout := counterDelta(t, "tributary_source_errors_total", "retry-document", "complete_timeout")
	sink := startPipeline(t, pool, "retry", newTestSource(t, cfg))

	pipelinetest.WaitFor(t, 30*time.Second, "both batches completed", func() bool { return len(env.fake.Completed("document")) == 2 })
	env.assertSafeCompletes()
	c, attempts := env.fake.Completed("document"), env.fake.CompleteAttempts("document")
	if !slices.Equal(attempts, []string{c[0], c[0], c[0], c[1]}) {
		t.Fatalf("complete attempts %v; want the first batch three times, then the second once (completed %v)", attempts, c)
	}
	if got := pipelinetest.TopicIDs(t, pool, "retry"); !slices.Equal(got, want) {
		t.Fatalf("topic %v, want %v", got, want)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "delivery", func() bool { return sink.Len() == 15 })
	if retries() != 2 || e5xx() != 1 || etimeout() != 1 {
		t.Fatal("complete failures not counted by kind")
	}
}

// A complete that took effect but whose answer was lost must not lose the
// batch after it: the source either gets 404 on retry, or sees another batch
// served (or none) and goes on with that one, storing it before completing.
func TestCompleteAnswerLostDoesNotLoseTheNextBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		complete []*feedfake.Fault
		next     []*feedfake.Fault
		attempts []int // indexes of completed batches, in attempt order
	}{
		{name: "connection dropped, probe sees the next batch",
			complete: []*feedfake.Fault{{ApplyThenDrop: true}, nil, {ApplyThenDrop: true}},
			attempts: []int{0, 1, 2}},
		{name: "connection dropped, probe fails, retry gets 404",
			complete: []*feedfake.Fault{{ApplyThenDrop: true}},
			next:     []*feedfake.Fault{nil, {Status: 503}},
			attempts: []int{0, 0, 1, 2}},
		{name: "applied but answered 502",
			complete: []*feedfake.Fault{{Apply: true, Status: 502}, {Apply: true, Status: 502}, {Apply: true, Status: 502}},
			attempts: []int{0, 1, 2}},
		{name: "timed out, applied late",
			complete: []*feedfake.Fault{{Hang: true, Apply: true}},
			next:     []*feedfake.Fault{nil, {Hang: true}},
			attempts: []int{0, 0, 1, 2}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newPool(t)
			name := fmt.Sprintf("lost%d", i)
			env := newFeedEnv(t, pool, name, feedfake.Config{})
			want := notificationIDs(env.fake.Generate("screening", 25))
			env.fake.Script("screening", feedfake.OpComplete, tt.complete...)
			env.fake.Script("screening", feedfake.OpNext, tt.next...)
			cfg := env.config("screening")
			cfg.RequestTimeout = 200 * time.Millisecond
			gone := counterDelta(t, "tributary_batchfeed_complete_not_found_total", name+"-screening")
			startPipeline(t, pool, name, newTestSource(t, cfg))

			pipelinetest.WaitFor(t, 30*time.Second, "the feed to be empty", func() bool { return env.fake.Pending("screening") == 0 })
			env.assertSafeCompletes()
			c := env.fake.Completed("screening")
			var wantAttempts []string
			for _, k := range tt.attempts {
				if k < len(c) {
					wantAttempts = append(wantAttempts, c[k])
				}
			}
			if len(c) != 3 || !slices.Equal(env.fake.CompleteAttempts("screening"), wantAttempts) {
				t.Fatalf("completed %v after attempts %v, want attempts %v", c, env.fake.CompleteAttempts("screening"), wantAttempts)
			}
			if got := pipelinetest.TopicIDs(t, pool, name); !slices.Equal(got, want) {
				t.Fatalf("topic %v, want %v", got, want)
			}
			if g := gone(); g < 1 {
				t.Fatalf("complete_not_found = %v, want at least 1", g)
			}
		})
	}
}

// reasonSource records the reason its source stops with.
type reasonSource struct {
	*Source
	reason chan error
}

func (s reasonSource) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	return s.Source.Start(ctx, emit, func(err error) {
		s.reason <- err
		stopped(err)
	})
}

func TestUnknownFeedStopsWithAConfigError(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	env := newFeedEnv(t, pool, "unknown", feedfake.Config{})
	want := notificationIDs(env.fake.Generate("journey", 5))
	bad := reasonSource{newTestSource(t, env.config("journeys")), make(chan error, 1)}
	notFound := counterDelta(t, "tributary_source_errors_total", "unknown-journeys", "feed_not_found")
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Metrics: testMetrics}, router.Pipeline{
		Name: "unknown", Sinks: []router.Sink{{Name: "rec", Publisher: sink}},
		Sources: []router.Source{{Name: "journeys", Source: bad}, {Name: "journey", Source: newTestSource(t, env.config("journey"))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)

	pipelinetest.WaitFor(t, 30*time.Second, "the good feed delivered", func() bool { return sink.Len() == 5 })
	var nf *FeedNotFoundError
	select {
	case err := <-bad.reason:
		if !errors.As(err, &nf) || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `feed "journeys" not found (404)`) ||
			!strings.Contains(err.Error(), "valid: journey, entitydata") {
			t.Fatalf("stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the bad source did not stop")
	}
	if fs := r.SourceFailures(); len(fs) != 1 || fs[0].Source != "journeys" || !strings.Contains(fs[0].Reason, `feed "journeys" not found (404)`) {
		t.Fatalf("router's failures %+v, want the bad feed's", fs)
	}
	// Many backoff periods (10–100 ms) later there is still only the one call.
	time.Sleep(500 * time.Millisecond)
	if n := env.fake.Calls("journeys", feedfake.OpNext); n != 1 {
		t.Fatalf("%d requests to the unknown feed, want 1 (no retry loop)", n)
	}
	if notFound() != 1 {
		t.Fatal("feed_not_found not counted")
	}
	if got := pipelinetest.TopicIDs(t, pool, "unknown"); !slices.Equal(got, want) {
		t.Fatalf("topic %v, want %v", got, want)
	}
}

func bogusBatch(id string, n int, mut func(i int, m map[string]any)) []byte {
	ns := make([]map[string]any, n)
	for i := range ns {
		ns[i] = map[string]any{"id": fmt.Sprintf("bogus-%d", i), "eventType": "journey:x"}
		if mut != nil {
			mut(i, ns[i])
		}
	}
	b := map[string]any{"notifications": ns, "moreAvailable": true}
	if id != "" {
		b["batchId"] = id
	}
	body, _ := json.Marshal(b)
	return body
}

func TestBadInputIsRetriedNeverCompleted(t *testing.T) {
	t.Parallel()
	valid := bogusBatch("bogus", 3, nil)
	tests := []struct {
		name   string
		op     feedfake.Op
		fault  feedfake.Fault
		kind   string // SourceErrors kind counted
		stored int    // bogus events that may reach the topic
	}{
		{name: "malformed JSON", op: feedfake.OpNext, fault: feedfake.Fault{Body: []byte(`{"batchId":"bogus","notifications":[{"id":"bogus-0"]}`)}, kind: "invalid_batch"},
		{name: "truncated JSON", op: feedfake.OpNext, fault: feedfake.Fault{Body: valid[:len(valid)-20]}, kind: "invalid_batch"},
		{name: "empty notifications with 200", op: feedfake.OpNext, fault: feedfake.Fault{Body: []byte(`{"batchId":"bogus","notifications":[],"moreAvailable":true}`)}, kind: "invalid_batch"},
		{name: "batchId missing", op: feedfake.OpNext, fault: feedfake.Fault{Body: bogusBatch("", 3, nil)}, kind: "invalid_batch"},
		{name: "more than 10 notifications", op: feedfake.OpNext, fault: feedfake.Fault{Body: bogusBatch("bogus", 11, nil)}, kind: "invalid_batch"},
		{name: "notification without id", op: feedfake.OpNext, fault: feedfake.Fault{Body: bogusBatch("bogus", 3, func(i int, m map[string]any) {
			if i == 2 {
				delete(m, "id")
			}
		})}, kind: "invalid_batch"},
		{name: "500 on next", op: feedfake.OpNext, fault: feedfake.Fault{Status: 500}, kind: "status_5xx"},
		{name: "502 on next", op: feedfake.OpNext, fault: feedfake.Fault{Status: 502, ContentType: "text/html", Body: []byte("<html>Bad Gateway</html>")}, kind: "status_5xx"},
		{name: "timeout on next", op: feedfake.OpNext, fault: feedfake.Fault{Hang: true}, kind: "timeout"},
		{name: "slow answer on next", op: feedfake.OpNext, fault: feedfake.Fault{Delay: 3 * time.Second, Body: valid}, kind: "timeout"},
		{name: "503 on complete", op: feedfake.OpComplete, fault: feedfake.Fault{Status: 503}, kind: "complete_status_5xx"},
		{name: "timeout on complete", op: feedfake.OpComplete, fault: feedfake.Fault{Hang: true}, kind: "complete_timeout"},
		{name: "connection dropped on next", op: feedfake.OpNext, fault: feedfake.Fault{ApplyThenDrop: true}, kind: "transport"},
		{name: "slow answer on complete", op: feedfake.OpComplete, fault: feedfake.Fault{Delay: 3 * time.Second}, kind: "complete_timeout"},
	}
	for i, tt := range tests {
		// Sequential: a router per case, and parallel routers would crowd
		// the PostgreSQL shared by the whole repository's tests.
		t.Run(tt.name, func(t *testing.T) {
			pool := newPool(t)
			name := fmt.Sprintf("bad%d", i)
			env := newFeedEnv(t, pool, name, feedfake.Config{})
			want := notificationIDs(env.fake.Generate("journey", 12))
			f := tt.fault
			env.fake.Script("journey", tt.op, &f, &f)
			cfg := env.config("journey")
			// Well below the faults' delay, well above a normal answer on a
			// loaded machine: only the two scripted faults may time out.
			cfg.RequestTimeout = time.Second
			errs := counterDelta(t, "tributary_source_errors_total", name+"-journey", tt.kind)
			startPipeline(t, pool, name, newTestSource(t, cfg))

			pipelinetest.WaitFor(t, 30*time.Second, "the feed to be empty", func() bool { return env.fake.Pending("journey") == 0 })
			env.assertSafeCompletes()
			if got := pipelinetest.TopicIDs(t, pool, name); !slices.Equal(got, want) {
				t.Fatalf("topic %v, want exactly %v", got, want)
			}
			if slices.Contains(env.fake.CompleteAttempts("journey"), "bogus") {
				t.Fatal("the bad batch was completed")
			}
			if got := errs(); got != 2 {
				t.Fatalf("errors of kind %s = %v, want 2", tt.kind, got)
			}
		})
	}
}

// TestNackedBatchIsRedeliveredBeforeComplete drives the contract by hand
// (the test kit's Emit): a nacked notification fails its batch's group,
// which is handed on again whole, and the batch is completed only after
// every notification of it is acked; a second Start while one runs is
// refused.
func TestNackedBatchIsRedeliveredBeforeComplete(t *testing.T) {
	t.Parallel()
	f, srv := fakeServer(t, feedfake.Config{})
	want := notificationIDs(f.Generate("digitalidv", 4))
	src := newTestSource(t, Config{BaseURL: srv.URL, FeedID: "digitalidv",
		PollInterval: time.Hour, Backoff: Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src.Instrument(testMetrics, "nack", "digitalidv")
	nacked := counterDelta(t, "tributary_batchfeed_nacks_total", "nack-digitalidv")
	ch, err := subscribe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tributarytest.Start(ctx, src); err == nil {
		t.Fatal("a second Start was accepted")
	}
	var got []string
	for i := 0; len(got) < 6; i++ {
		var m *message.Message
		select {
		case m = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
		got = append(got, tributary.EventID(m))
		if len(f.Completed("digitalidv")) != 0 {
			t.Fatalf("batch completed before all of it was acked (%v)", got)
		}
		if i == 1 {
			m.Nack()
		} else {
			m.Ack()
		}
	}
	wantSeq := []string{want[0], want[1], want[0], want[1], want[2], want[3]}
	if !slices.Equal(got, wantSeq) {
		t.Fatalf("delivered %v, want %v", got, wantSeq)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "the batch completed", func() bool { return len(f.Completed("digitalidv")) == 1 })
	if nacked() != 4 {
		t.Fatalf("nacks counted %v, want the group's 4", nacked())
	}
	// Stopping ends the run, even while the source sleeps for an hour.
	closed := make(chan struct{})
	go func() { _ = stop(src); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("stop hung")
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after the stop")
	}
}

func TestCancelClosesChannel(t *testing.T) {
	t.Parallel()
	_, srv := fakeServer(t, feedfake.Config{})
	src := newTestSource(t, Config{BaseURL: srv.URL, FeedID: "journey", PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := subscribe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("message from an empty feed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}

func TestUnorderedStoresWholeBatchThenCompletes(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	env := newFeedEnv(t, pool, "unordered", feedfake.Config{})
	want := notificationIDs(env.fake.Generate("entitydata", 35))
	cfg := env.config("entitydata")
	cfg.Unordered = true
	startPipeline(t, pool, "unordered", newTestSource(t, cfg))
	pipelinetest.WaitFor(t, 30*time.Second, "the feed to be empty", func() bool { return env.fake.Pending("entitydata") == 0 })
	env.assertSafeCompletes()
	got := pipelinetest.TopicIDs(t, pool, "unordered")
	slices.Sort(got)
	if !slices.Equal(got, want) { // generated ids sort in feed order
		t.Fatalf("topic holds %v, want each of %v once", got, want)
	}
	if len(env.fake.CompleteAttempts("entitydata")) != 4 {
		t.Fatalf("complete attempts %v, want one per batch", env.fake.CompleteAttempts("entitydata"))
	}
}
