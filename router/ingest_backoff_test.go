package router_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
)

// TestFailingIngestBacksOffAndLogsBoundedly: an event Postgres refuses every
// time, for a reason that is not its content (here a trigger raising an
// error; in life a database not migrated or a lock timeout, which may pass,
// so the event is not quarantined), is handed back to its source, which
// redelivers it 10 ms after each nack. Without a backoff that is a hot loop: about a
// hundred attempts and log lines a second. The ingest must wait longer after
// each failure (100 ms doubling), and log the same error once, then once per
// 10 s with a count. (Before: 18,544 lines in 10 s against an unmigrated
// database.)
func TestFailingIngestBacksOffAndLogsBoundedly(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(context.Background(), `
		CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			IF NEW.metadata->>'tributary_event_id' = 'bad' THEN RAISE EXCEPTION 'refused by a trigger'; END IF;
			RETURN NEW; END $$;
		CREATE TRIGGER refuse_bad BEFORE INSERT ON tributary_messages FOR EACH ROW EXECUTE FUNCTION refuse_bad()`); err != nil {
		t.Fatal(err)
	}
	logger, log := pipelinetest.NewJSONLogger()
	reg := prometheus.NewRegistry()
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Logger: logger, CloseTimeout: time.Second, Metrics: reg},
		router.Pipeline{Name: "refused",
			Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource("bad")}},
			Sinks:   []router.Sink{{Name: "sink", Publisher: pipelinetest.NewSink(nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	stop := pipelinetest.RunRouter(t, r)
	time.Sleep(3 * time.Second)
	stop()
	attempts := pipelinetest.MetricValue(t, reg, "tributary_ingest_failed_total", "pipeline", "refused", "source", "src")
	// 100+200+400+800+1600 ms (±20 %) fit about 5 attempts in 3 s; a hot
	// loop at 10 ms makes hundreds.
	if attempts < 2 || attempts > 8 {
		t.Fatalf("%v ingest attempts in 3 s, want a backoff (2–8)", attempts)
	}
	var failed []string
	for _, l := range log.Lines() {
		if strings.Contains(l, "Ingest failed") {
			failed = append(failed, l)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0], `"retry_in"`) {
		t.Fatalf("%d 'Ingest failed' lines for one repeated error in 3 s, want 1 with its retry_in:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	log.CheckLines(t)
}

// TestPoisonedLogLineCarriesItsError: "Delivery given up; message poisoned"
// names the reason as its error (it used to log "error": null), and no line
// of the delivery path repeats a key.
func TestPoisonedLogLineCarriesItsError(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	logger, log := pipelinetest.NewJSONLogger()
	sink := pipelinetest.NewSink(func(*message.Message) error { return middleware.Permanent(errors.New("receiver said 400")) })
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Logger: logger, CloseTimeout: time.Second},
		router.Pipeline{Name: "poisoned",
			Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource("p-1")}},
			Sinks:   []router.Sink{{Name: "sink", Publisher: sink}}})
	if err != nil {
		t.Fatal(err)
	}
	stop := pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 20*time.Second, "the poison log line", func() bool {
		return strings.Contains(log.String(), "message poisoned")
	})
	stop()
	for _, l := range log.Lines() {
		if strings.Contains(l, "message poisoned") && !strings.Contains(l, `"error":"receiver said 400"`) {
			t.Fatalf("poison line without its error: %s", l)
		}
	}
	log.CheckLines(t)
}
