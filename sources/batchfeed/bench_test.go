package batchfeed

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// BenchmarkFeedToPostgres measures notifications/s from the fake feed
// (batches of 10 over loopback HTTP) into the pipeline's Postgres topic
// through the real router (each batch one group: dedup + publish in one
// statement), against a baseline measured in the same run: the bare fetch +
// complete loop, storing nothing.
func BenchmarkFeedToPostgres(b *testing.B) {
	pool := pgtest.NewPool(b)
	fake := feedfake.New(feedfake.Config{})
	srv := httptest.NewServer(fake)
	b.Cleanup(srv.Close)
	ctx := context.Background()

	// Baseline: the HTTP protocol alone.
	fake.Generate("document", b.N)
	client, err := NewClient(Config{BaseURL: srv.URL, FeedID: "document"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for n := 0; n < b.N; {
		batch, err := client.Next(ctx)
		if err != nil || batch == nil {
			b.Fatalf("baseline next: %v, %v", batch, err)
		}
		if err := client.Complete(ctx, batch.ID); err != nil {
			b.Fatal(err)
		}
		n += len(batch.Notifications)
	}
	baseline := float64(b.N) / time.Since(start).Seconds()

	// The pipeline, started on an empty feed so that its start-up is not timed.
	src, err := NewSource(Config{BaseURL: srv.URL, FeedID: "journey", PollInterval: time.Millisecond}, nil)
	if err != nil {
		b.Fatal(err)
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "bench",
		Sources: []router.Source{{Name: "journey", Source: src}},
		Sinks:   []router.Sink{{Name: "discard", Publisher: discardSink{}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case <-r.Running():
	case err := <-done:
		b.Fatal(err)
	}

	b.ResetTimer()
	start = time.Now()
	fake.Generate("journey", b.N)
	for fake.Pending("journey") > 0 {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	stored, err := pipelinetest.TopicCount(ctx, pool, "bench", fake.CompletedIDs("journey"))
	if err != nil || stored != b.N {
		b.Fatalf("topic holds %d of %d notifications: %v", stored, b.N, err)
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "notif/s")
	b.ReportMetric(baseline, "baseline_notif/s")
	b.ReportMetric(rate/baseline, "ratio_to_baseline")
}
