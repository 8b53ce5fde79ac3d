package ops_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
)

// TestEndpointsPage: each sink's state (healthy, breaker open, disabled,
// idle), success rate and latency percentiles over the last hour — older
// attempts do not count — and the toggle returns to the page.
func TestEndpointsPage(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		INSERT INTO tributary_delivery_attempts (pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms, outcome)
		SELECT 'doors', 'a', 'https://a.example/in', 'e' || i, 'u' || i, 1, now() - make_interval(secs => 100 - i), i,
			CASE WHEN i = 10 THEN 'transient' ELSE 'success' END FROM generate_series(1, 10) i;
		INSERT INTO tributary_delivery_attempts (pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms, outcome)
		SELECT 'doors', 'a', 'https://a.example/in', 'old' || i, 'o' || i, 1, now() - interval '2 hours', 5000, 'permanent' FROM generate_series(1, 50) i;
		INSERT INTO tributary_delivery_attempts (pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms, outcome)
		VALUES ('doors', 'b', 'https://b.example/in', 'x', 'x', 1, now() - interval '30 seconds', 3, 'transient'),
		       ('doors', 'b', 'https://b.example/in', 'y', 'y', 1, now() - interval '10 seconds', 0, 'circuit_open');
		INSERT INTO tributary_endpoints (pipeline, sink, endpoint, state, reason, changed_by)
		VALUES ('doors', 'c', 'https://c.example/in', 'disabled', '410 Gone', 'webhook sink'),
		       ('doors', 'a', 'https://a.example/in', 'enabled', '', 'webhook sink')`); err != nil {
		t.Fatal(err)
	}
	infos := []ops.PipelineInfo{{Name: "doors", Sinks: []ops.ComponentInfo{{Name: "a", Type: "webhook"}, {Name: "b", Type: "webhook"},
		{Name: "c", Type: "webhook"}, {Name: "d", Type: "socketcommand"}}}}
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Pipelines: infos})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	resp.Body.Close()
	page := html.UnescapeString(b.String())
	row := func(sink string) string {
		m := regexp.MustCompile(`(?s)<tr data-pipeline="doors" data-sink="` + sink + `"[^>]*>.*?</tr>`).FindString(page)
		if m == "" {
			t.Fatalf("no row for %s:\n%s", sink, page)
		}
		return m
	}
	tests := []struct {
		sink string
		want []string
	}{
		{"a", []string{`data-state="healthy"`, "<td>10</td>", "90.0%", "5.5 ms", "9.5 ms", "9.9 ms", ">Disable</button>"}},
		{"b", []string{`data-state="breaker open"`, "<td>2</td>", "0.0%"}},
		{"c", []string{`data-state="disabled"`, "410 Gone", ">Enable</button>"}},
		{"d", []string{`data-state="idle"`, "<td>0</td>"}},
	}
	for _, tc := range tests {
		r := row(tc.sink)
		for _, w := range tc.want {
			if !strings.Contains(r, w) {
				t.Errorf("sink %s: no %q in\n%s", tc.sink, w, r)
			}
		}
	}
	csrf := csrfField.FindStringSubmatch(page)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = c.PostForm(srv.URL+"/endpoints/state", url.Values{"csrf": {csrf[1]}, "pipeline": {"doors"}, "sink": {"c"},
		"state": {"enabled"}, "back": {"endpoints"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/endpoints?flash=") {
		t.Fatalf("enable from the endpoints page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
