package ops_test

import (
	"context"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
)

// TestQueueDepthsOfAnotherBackend: a pipeline whose topic is not in
// Postgres (JetStream) has its lag and retries counted by its backend; its
// poison count still comes from the database.
func TestQueueDepthsOfAnotherBackend(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO tributary_poison (pipeline, sink, message_uuid, event_id, payload, metadata, reason, attempts, first_failure, last_failure)
		VALUES ('js', 'a', 'u1', 'e1', '{}', '{}', 'r', 1, now(), now())`); err != nil {
		t.Fatal(err)
	}
	infos := []ops.PipelineInfo{{Name: "js", Sinks: []ops.ComponentInfo{{Name: "a"}},
		Depth: func(_ context.Context, pipeline, sink string) (int64, int64, error) {
			if pipeline != "js" || sink != "a" {
				t.Errorf("depth asked for %s/%s", pipeline, sink)
			}
			return 7, 3, nil
		}}}
	ds, err := ops.QueueDepths(ctx, pool, infos)
	if err != nil || len(ds) != 1 || ds[0].Lag != 7 || ds[0].Retry != 3 || ds[0].Poison != 1 {
		t.Fatalf("depths: %+v %v; want lag 7, retry 3 (from the backend), poison 1 (from the database)", ds, err)
	}
}
