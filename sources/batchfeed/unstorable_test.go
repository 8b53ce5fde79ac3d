package batchfeed

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// TestUnstorableNotificationDoesNotStopTheFeed: a batch holds a
// notification whose eventType has a NUL (no jsonb can store it) and one
// whose id is 8 KB of random text (over the btree row limit) among
// ordinary ones. The first is set aside in the ingest quarantine, every
// other one is stored, the batch is completed only once all of them are
// stored or quarantined, and the batches after it follow. Before, the
// source handed the NUL one on for ever and never completed the batch.
func TestUnstorableNotificationDoesNotStopTheFeed(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	env := newFeedEnv(t, pool, "hostile", feedfake.Config{})
	first := []feedfake.Notification{
		{ID: "ok-1", EventType: "journey:x"},
		{ID: "nul", EventType: "journey:\x00x"},
		{ID: "long-" + pipelinetest.RandomText(8000), EventType: "journey:x"},
		{ID: "ok-2", EventType: "journey:x"},
	}
	env.fake.Add("journey", first...)
	storable := []string{first[0].ID, first[2].ID, first[3].ID}
	var mu sync.Mutex
	var atComplete []string // what was stored and quarantined when each complete came
	env.onEachRequest(func(op feedfake.Op, _, batchID string) {
		if op != feedfake.OpComplete {
			return
		}
		ctx := context.Background()
		stored, err1 := pipelinetest.TopicCount(ctx, pool, "hostile", storable)
		quarantined, err2 := router.NewIngestQuarantine(pool).Count(ctx, router.QuarantineFilter{Pipeline: "hostile"})
		mu.Lock()
		defer mu.Unlock()
		if err1 == nil && err2 == nil && stored == len(storable) && quarantined == 1 {
			atComplete = append(atComplete, batchID)
		} else {
			atComplete = append(atComplete, "unsafe:"+batchID)
		}
	})
	later := notificationIDs(env.fake.Generate("journey", 12))
	sink := startPipeline(t, pool, "hostile", newTestSource(t, env.config("journey")))

	pipelinetest.WaitFor(t, 30*time.Second, "the feed to be empty", func() bool { return env.fake.Pending("journey") == 0 })
	// An empty feed means every batch was stored, not yet delivered: wait for
	// the sink before counting.
	want := append(storable, later...)
	pipelinetest.WaitFor(t, 30*time.Second, "every storable notification at the sink", func() bool {
		for _, id := range want {
			if sink.Count(id) == 0 {
				return false
			}
		}
		return true
	})
	for _, id := range want {
		if sink.Count(id) != 1 {
			t.Fatalf("notification %.20s… delivered %d times, want 1", id, sink.Count(id))
		}
	}
	if sink.Count("nul") != 0 {
		t.Fatal("the unstorable notification reached the sink")
	}
	mu.Lock()
	first1 := atComplete[0]
	mu.Unlock()
	if first1 != env.fake.Completed("journey")[0] {
		t.Fatalf("the first batch was completed before all its notifications were stored or quarantined: %v", atComplete)
	}
	recs, err := router.NewIngestQuarantine(pool).List(context.Background(), router.QuarantineFilter{Pipeline: "hostile"})
	if err != nil || len(recs) != 1 || recs[0].EventID != "nul" || recs[0].Source != "journey" {
		t.Fatalf("quarantine: %v, %+v", err, recs)
	}
}
