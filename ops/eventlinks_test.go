package ops_test

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
)

// TestOverviewLinksEventPages: the overview's delivery attempts and poison
// records link to their event's page (/events/<pipeline>/<offset>, found by
// message uuid, so of two messages with one event id each row opens its
// own); an event no longer stored, one of a pipeline on JetStream, or one
// of a pipeline this file does not run says so instead of linking.
func TestOverviewLinksEventPages(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	// Two messages of doors with the id dup-1 (a resend from another
	// source, say), and a stale row of jsdoors left by an earlier run on
	// PostgreSQL.
	var first, second int64
	for uuid, off := range map[string]*int64{"u-first": &first, "u-second": &second} {
		if err := pool.QueryRow(ctx, `INSERT INTO tributary_messages (topic, uuid, payload, metadata)
			VALUES ('tributary.doors', $1, '{}', '{"tributary_event_id":"dup-1"}') RETURNING "offset"`, uuid).Scan(off); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO tributary_messages (topic, uuid, payload, metadata) VALUES ('tributary.jsdoors', 'u-js', '{}', '{"tributary_event_id":"js-1"}');
		INSERT INTO tributary_delivery_attempts (pipeline, sink, endpoint, event_id, message_uuid, attempt, latency_ms, outcome) VALUES
			('doors', 'crm', 'http://r/', 'dup-1', 'u-first', 1, 1, 'success'),
			('doors', 'crm', 'http://r/', 'dup-1', 'u-second', 1, 1, 'success'),
			('doors', 'crm', 'http://r/', 'gone-1', 'u-gone', 1, 1, 'success'),
			('jsdoors', 'crm', 'http://r/', 'js-1', 'u-js', 1, 1, 'success'),
			('retired', 'crm', 'http://r/', 'old-1', 'u-old', 1, 1, 'success');
		INSERT INTO tributary_poison (pipeline, sink, message_uuid, event_id, payload, metadata, reason, attempts, first_failure, last_failure)
			VALUES ('doors', 'crm', 'u-second', 'dup-1', '{}', '{}', 'refused', 3, now(), now())`); err != nil {
		t.Fatal(err)
	}
	depth := func(context.Context, string, string) (int64, int64, error) { return 0, 0, nil }
	sinks := []ops.ComponentInfo{{Name: "crm", Type: "webhook"}}
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Pipelines: []ops.PipelineInfo{
		{Name: "doors", Sinks: sinks}, {Name: "jsdoors", Sinks: sinks, Depth: depth}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	code, page, _ := request(t, srv.URL, "GET", "/", nil, nil)
	if code != 200 {
		t.Fatalf("overview: %d\n%s", code, page)
	}
	table := func(id string) string {
		return regexp.MustCompile(`(?s)<table id="` + id + `">.*?</table>`).FindString(page)
	}
	attempts, poison := table("attempts"), table("poison")
	for _, c := range []struct {
		name, table, want string
	}{
		{"first message of dup-1", attempts, `<a class="event-link" href="/events/doors/` + strconv.FormatInt(first, 10) + `"><code>dup-1</code></a>`},
		{"second message of dup-1", attempts, `<a class="event-link" href="/events/doors/` + strconv.FormatInt(second, 10) + `"><code>dup-1</code></a>`},
		{"pruned", attempts, `<code>gone-1</code> <span class="note">(no longer stored)</span>`},
		{"on JetStream, with a stale row", attempts, `<code>js-1</code> <span class="note">(no event page: kept in NATS JetStream)</span>`},
		{"pipeline not in the file", attempts, `<code>old-1</code> <span class="note">(not a pipeline of this instance&#39;s file)</span>`},
		{"poison record", poison, `<a class="event-link" href="/events/doors/` + strconv.FormatInt(second, 10) + `"><code>dup-1</code></a>`},
	} {
		if !strings.Contains(c.table, c.want) {
			t.Errorf("%s: want %s in\n%s", c.name, c.want, c.table)
		}
	}
	if strings.Contains(page, "/events?event_id=") {
		t.Errorf("a row still links to the search instead of its event page")
	}
	// The link opens that message's page.
	if code, ev, _ := request(t, srv.URL, "GET", "/events/doors/"+strconv.FormatInt(second, 10), nil, nil); code != 200 || !strings.Contains(ev, "u-second") {
		t.Errorf("the linked event page: %d\n%s", code, ev)
	}
}

// TestNavigationSameOnEveryPage: every page of the console, the overview
// included, has the same navigation, naming every page.
func TestNavigationSameOnEveryPage(t *testing.T) {
	t.Parallel()
	env := newConsoleEnv(t)
	nav := regexp.MustCompile(`(?s)<nav>.*?</nav>`)
	var first string
	for _, path := range []string{"/", "/events", "/endpoints", "/subscriptions", "/live"} {
		code, page, _ := env.do(t, "GET", path, nil, nil)
		got := nav.FindString(page)
		if code != 200 || got == "" {
			t.Errorf("%s: %d, navigation %q", path, code, got)
			continue
		}
		for _, p := range []string{`href="/"`, `href="/events"`, `href="/endpoints"`, `href="/subscriptions"`, `href="/live"`} {
			if !strings.Contains(got, p) {
				t.Errorf("%s: the navigation lacks %s: %s", path, p, got)
			}
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("%s: navigation %s, the overview's %s", path, got, first)
		}
	}
}
