package batchfeed

import (
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/tributarytest"
)

// TestConformance runs the source contract's suite: a feed's batches are
// handed on in order, a batch not stored comes again (it is completed only
// once stored), and a source stopped before storing a batch gets it again
// when started again (the feed serves it until it is completed).
func TestConformance(t *testing.T) {
	t.Parallel()
	tributarytest.TestSource(t, tributarytest.Features{Ordered: true, Restarts: true}, func(t *testing.T) tributarytest.Harness {
		f, srv := fakeServer(t, feedfake.Config{})
		src := newTestSource(t, Config{BaseURL: srv.URL, FeedID: "journey", PollInterval: 10 * time.Millisecond,
			Backoff: Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
		return tributarytest.Harness{Source: src, Publish: func(t *testing.T, n int) []string {
			return notificationIDs(f.Generate("journey", n))
		}}
	})
}
