package cli

import (
	"context"
	"encoding/json"
	"github.com/tributary-dev/tributary/sinks/httpsink"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestDeliveriesListOutcomes: `deliveries list --outcome` accepts exactly
// the outcomes the sinks write to the delivery log — the webhook sink's,
// through its own log, and the http sink's, by a real delivery — finds each,
// and refuses any other word with the list, instead of silently matching
// nothing.
func TestDeliveriesListOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, url)
	env := map[string]string{"DATABASE_URL": url}

	outcomes := deliverylog.Outcomes()
	if len(outcomes) < 6 {
		t.Fatalf("deliverylog.Outcomes() = %v, want every outcome the sinks write", outcomes)
	}
	log := webhook.NewPostgresLog(pool)
	for _, o := range outcomes {
		if err := log.Record(ctx, webhook.Attempt{Pipeline: "p", Sink: "hook", EventID: "ev-" + string(o), Outcome: o}); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Flush(ctx); err != nil { // the log is written behind Record
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/refuse") {
			http.Error(w, "no", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	for _, c := range []struct{ path, event string }{{"/ok", "http-ok"}, {"/refuse", "http-refused"}} {
		sink := httpsink.New(httpsink.Config{URL: srv.URL + c.path, AllowPrivateNetworks: true}, "p", "plain", pool, nil)
		_ = sink.Publish("plain", tributary.NewEventMessage(c.event, []byte(`{}`)))
		_ = sink.Close() // the delivery log is written behind the delivery; Close flushes it
	}

	list := func(outcome string) (int, []map[string]any, string) {
		code, out, errs := execute(t, env, "--json", "deliveries", "list", "--outcome", outcome)
		var rows []map[string]any
		if code == ExitOK {
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("--outcome %s: %v\n%s", outcome, err, out)
			}
		}
		return code, rows, errs
	}
	got := map[string][]string{}
	for _, o := range outcomes {
		code, rows, errs := list(string(o))
		if code != ExitOK || len(rows) == 0 {
			t.Errorf("--outcome %s: exit %d, %d rows, want at least one\n%s", o, code, len(rows), errs)
		}
		for _, r := range rows {
			if r["outcome"] != string(o) {
				t.Errorf("--outcome %s listed %v", o, r)
			}
			got[string(o)] = append(got[string(o)], r["event_id"].(string))
		}
	}
	// The http sink writes the same words.
	if !strings.Contains(strings.Join(got["success"], ","), "http-ok") || !strings.Contains(strings.Join(got["permanent"], ","), "http-refused") {
		t.Errorf("http sink rows not found under success / permanent: %v", got)
	}

	// The table shows event ids whole (an operator copies them into --event).
	long := "01e04b69-e768-52a2-974f-a65254d0a85f-and-more-than-forty-characters"
	if err := log.Record(ctx, webhook.Attempt{Pipeline: "p", Sink: "hook", EventID: long, Outcome: outcomes[0]}); err != nil {
		t.Fatal(err)
	}
	if err := log.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := execute(t, env, "deliveries", "list", "--event", long); code != ExitOK || !strings.Contains(out, long) {
		t.Errorf("deliveries list: exit %d, want the whole event id %s\n%s%s", code, long, out, errs)
	}

	want := make([]string, len(outcomes))
	for i, o := range outcomes {
		want[i] = string(o)
	}
	allowed := strings.Join(want, ", ")
	for _, bad := range []string{"delivered", "failed", "rejected", "SUCCESS", "nope"} {
		code, _, errs := list(bad)
		if code != ExitUsage || !strings.Contains(errs, allowed) || !strings.Contains(errs, bad) {
			t.Errorf("--outcome %s: exit %d, want %d naming %q and the allowed %q\n%s", bad, code, ExitUsage, bad, allowed, errs)
		}
	}
	if _, out, _ := execute(t, nil, "deliveries", "list", "--help"); !strings.Contains(out, allowed) {
		t.Errorf("--help does not list the outcomes %q:\n%s", allowed, out)
	}
}
