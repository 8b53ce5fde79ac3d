package ops_test

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
)

// TestOverviewSourceLedElsewhere: a source another instance leads shows as
// running there, not as "down" (this instance's gauge for a source it does
// not run reads 0); the source this instance leads shows its own state; the
// page says where the topics live.
func TestOverviewSourceLedElsewhere(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		INSERT INTO tributary_instances (id, host, pid, expires_at) VALUES
			('other-1', 'h1', 1, now() + interval '1 hour'), ('me-2', 'h2', 2, now() + interval '1 hour');
		INSERT INTO tributary_leases (name, owner, expires_at) VALUES
			('doors/eventlog', 'other-1', now() + interval '1 hour'), ('doors/panel', 'me-2', now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tributary_source_up"}, []string{"pipeline", "source"})
	reg.MustRegister(up)
	up.WithLabelValues("doors", "eventlog").Set(0)
	up.WithLabelValues("doors", "panel").Set(1)
	infos := []ops.PipelineInfo{{Name: "doors",
		Sources: []ops.ComponentInfo{{Name: "eventlog", Type: "etagpoll"}, {Name: "panel", Type: "socketio"}},
		Sinks:   []ops.ComponentInfo{{Name: "receiver", Type: "webhook"}}}}
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Pipelines: infos, Gatherer: reg,
		Instance: func() string { return "me-2" }, Backend: "NATS JetStream at 127.0.0.1:4222"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	code, page, _ := request(t, srv.URL, "GET", "/", nil, nil)
	if code != 200 {
		t.Fatalf("overview: %d", code)
	}
	source := func(name string) string {
		return regexp.MustCompile(`<div class="source" data-source="` + name + `">.*?</div>`).FindString(page)
	}
	for _, c := range []struct{ source, want string }{
		{"eventlog", `<span class="elsewhere">runs on other-1</span>`},
		{"panel", `<span class="up">up</span>`},
	} {
		if got := source(c.source); !regexp.MustCompile(regexp.QuoteMeta(c.want)).MatchString(got) {
			t.Errorf("source %s: want %s in\n%s", c.source, c.want, got)
		}
	}
	if !regexp.MustCompile(`topics: <span id="backend">NATS JetStream at 127.0.0.1:4222</span>`).MatchString(page) {
		t.Errorf("the overview does not say where the topics live")
	}
	if !regexp.MustCompile(`<nav><a href="/">Overview</a><a href="/events">Events</a>`).MatchString(page) {
		t.Errorf("the overview's navigation differs from the console pages'")
	}
}

// TestEventPagesOnJetStream: for a pipeline whose topic is on JetStream the
// event search and event pages say plainly that they cannot show its
// events, instead of showing rows an earlier PostgreSQL run left.
func TestEventPagesOnJetStream(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	// A row of an earlier run on PostgreSQL, as the table may still hold.
	if _, err := pool.Exec(context.Background(), `INSERT INTO tributary_messages (topic, uuid, payload, metadata)
		VALUES ('tributary.doors', gen_random_uuid()::text, '{}', '{"tributary_event_id":"stale-1"}')`); err != nil {
		t.Fatal(err)
	}
	depth := func(context.Context, string, string) (int64, int64, error) { return 0, 0, nil }
	infos := []ops.PipelineInfo{{Name: "doors", Sinks: []ops.ComponentInfo{{Name: "receiver", Type: "webhook"}}, Depth: depth}}
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Pipelines: infos})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	code, page, _ := request(t, srv.URL, "GET", "/events?pipeline=doors", nil, nil)
	if code != 200 || !strings.Contains(page, "kept in NATS JetStream, which the event pages cannot read") || strings.Contains(page, "stale-1") {
		t.Errorf("events page on JetStream: %d\n%s", code, page)
	}
	code, body, _ := request(t, srv.URL, "GET", "/events/doors/1", nil, nil)
	if code != 404 || !strings.Contains(body, "kept in NATS JetStream") {
		t.Errorf("event page on JetStream: %d %s", code, body)
	}
}
