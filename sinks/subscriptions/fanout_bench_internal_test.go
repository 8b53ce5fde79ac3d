package subscriptions

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// seedEndpoints inserts n endpoints of sink "hooks" in pipeline p, the first
// popular of them subscribed to comment.created, the others to rare types.
func seedEndpoints(b testing.TB, pool *pgxpool.Pool, p string, n, popular int, url string) {
	b.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO tributary_subscription_endpoints (id, pipeline, sink, url, types, token, token_header)
		SELECT 'ep_' || i, $1, 'hooks', $2, CASE WHEN i < $3 THEN ARRAY['comment.created'] ELSE ARRAY['rare' || (i % 900) || '.created'] END,
			'tok', 'token'
		FROM generate_series(0, $4 - 1) AS i`, p, url, popular, n)
	if err == nil {
		_, err = pool.Exec(context.Background(), `INSERT INTO tributary_subscription_versions VALUES ($1, 'hooks', 1)`, p)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFanOut is the cost of one event's fan-out in a sink of 10,000
// endpoints: popular, the event 1,000 of them subscribe to (one event row
// and 1,000 delivery rows in one transaction); rare, one of a handful. The
// dispatcher does not run.
func BenchmarkFanOut(b *testing.B) {
	for _, c := range []struct{ name, typ string }{{"popular", "comment.created"}, {"rare", "rare17.created"}} {
		b.Run(c.name, func(b *testing.B) {
			pool := pgtest.NewPool(b)
			seedEndpoints(b, pool, "bench", 10_000, 1_000, "http://127.0.0.1:9/never")
			// The sink without its loops: Publish as the router calls it,
			// the dispatcher not competing.
			cfg := Config{Pool: pool, Pipeline: "bench", Sink: "hooks"}
			cfg.setDefaults()
			sink := &Sink{cfg: cfg, store: NewStore(pool), wake: make(chan struct{}, 1), ready: make(chan struct{})}
			sink.metrics.Store(newSinkMetrics(nil, "bench", "hooks"))
			if err := sink.reload(context.Background()); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				msg := tributary.NewEventMessage(fmt.Sprintf("f%d", i), []byte(`{"id":"x"}`))
				msg.Metadata.Set(tributary.MetaEventType, c.typ)
				if err := sink.Publish("hooks", msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
