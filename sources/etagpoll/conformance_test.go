package etagpoll

import (
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
	"github.com/tributary-dev/tributary/tributarytest"
)

// TestConformance runs the source contract's suite: an event log's events
// are handed on in order, a page not stored comes again, and a source
// stopped before its events were stored reads them again from its
// checkpoint when started again.
func TestConformance(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	tributarytest.TestSource(t, tributarytest.Features{Ordered: true, Restarts: true}, func(t *testing.T) tributarytest.Harness {
		api := newFakeAPI(t)
		store := &savingStore{Store: checkpoint.NewStore(pool)}
		src, _, _ := newTestSource(t, api, store, t.Name(), nil)
		return tributarytest.Harness{Source: src, Publish: func(t *testing.T, n int) []string {
			started(t, store) // the source's start is stored: what is added now is after it
			return api.add(n)
		}}
	})
}
