package ops_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tributary-dev/tributary/sinks/webhook"
)

// screenshotDir is where the browser tests save their screenshots:
// $TRIBUTARY_SCREENSHOT_DIR, or the test's artifact directory (under
// -outputdir with go test -artifacts, else a temporary one).
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("TRIBUTARY_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

// TestConsoleInChromium drives the console in headless Chromium on each
// backend, saving a screenshot of each page (docs/img has them: the
// JetStream ones end in -jetstream).
func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	t.Parallel()
	chrome := chromiumPath(t)
	shots := screenshotDir(t)
	t.Run("postgres", func(t *testing.T) { consoleOnPostgres(t, newBrowser(t, chrome, shots, "")) })
	t.Run("jetstream", func(t *testing.T) { consoleOnJetStream(t, newBrowser(t, chrome, shots, "-jetstream")) })
	t.Logf("screenshots in %s", shots)
}

// browser is a headless Chromium for one test, with a 120 s deadline.
type browser struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	suffix string // added to each screenshot's name
}

func newBrowser(t *testing.T, chrome, shots, suffix string) *browser {
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, 120*time.Second)
	t.Cleanup(cancel)
	return &browser{t: t, ctx: ctx, shots: shots, suffix: suffix}
}

// shot saves the page as name (with the browser's suffix before ".png").
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	name = strings.TrimSuffix(name, ".png") + b.suffix + ".png"
	if err := os.WriteFile(filepath.Join(b.shots, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) has(selector string) bool {
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!document.querySelector(`+jsString(selector)+`)`))
	return err == nil && ok
}

// seedHour adds an hour of earlier traffic, so the charts and percentiles
// have a shape (their rows have no topic event: nothing to resend). It
// starts 58 minutes ago: no row leaves the live chart's hour (which starts
// at a minute boundary) during the test, so its count only grows.
func seedHour(t *testing.T, env *consoleEnv) {
	t.Helper()
	if _, err := env.pool.Exec(context.Background(), `
		INSERT INTO tributary_delivery_attempts (pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms, status_code, outcome)
		SELECT 'doors', s, 'http://receiver/' || s, 'hist-' || i, 'hist-' || s || i, 1, now() - make_interval(secs => 3480 - i * 3.4),
			20 + 15 * sin(i / 80.0) + (i % 7) * 3 + CASE WHEN s = 'audit' THEN 25 ELSE 0 END,
			CASE WHEN i % 97 = 0 THEN 503 ELSE 204 END, CASE WHEN i % 97 = 0 THEN 'transient' ELSE 'success' END
		FROM generate_series(1, 990) i, unnest(ARRAY['crm', 'audit']) s
		WHERE i % 3 <> 0 OR i % 50 < 25`); err != nil {
		t.Fatal(err)
	}
}

// consoleOnPostgres: search for an event, open it, see the refused attempt,
// resend it to its sink once the receiver is fixed and see the new attempt
// arrive; open an event from the overview's attempts; disable and enable
// the endpoint; watch the live page update over server-sent events.
func consoleOnPostgres(t *testing.T, b *browser) {
	ctx, shot, has := b.ctx, b.shot, b.has
	env := newConsoleEnv(t)
	seedHour(t, env) // first: the test's own attempts are the overview's newest
	env.refuse.Store(map[string]bool{"web-2": true})
	env.publish(t, "door.opened", "web-1", "web-2", "web-3")
	waitFor(t, 30*time.Second, "the first attempts", func() bool {
		return env.attempts(t, "web-2", "crm", "permanent") == 1 && env.attempts(t, "web-3", "crm", "success") == 1
	})
	env.publish(t, "door.opened", "web-2") // handed on again: dedup drops it, the event page counts it
	waitFor(t, 30*time.Second, "the duplicate counted", func() bool {
		var n int
		_ = env.pool.QueryRow(context.Background(), `SELECT COALESCE(sum(hits), 0) FROM tributary_dedup_hits WHERE key = 'web-2'`).Scan(&n)
		return n == 1
	})

	// Log in (the token becomes a cookie), then search by event id.
	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/?token=adm1n-t0ken"), chromedp.WaitVisible(`#pipelines`)); err != nil {
		t.Fatal(err)
	}
	shot("console-overview.png")
	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/events"), chromedp.WaitVisible(`#events tr[data-event="web-1"]`)); err != nil {
		t.Fatal(err)
	}
	shot("console-events.png")
	// The results table names its search: web-2 is on the page before the
	// search too.
	row := `#events[data-event-id="web-2"] tr[data-event="web-2"]`
	if err := chromedp.Do(ctx, chromedp.SetValue(`#event_id`, "web-2"), chromedp.Click(`#search-button`), chromedp.WaitVisible(row)); err != nil {
		t.Fatal(err)
	}
	if has(`#events tr[data-event="web-1"]`) {
		t.Fatal("the search by id lists other events")
	}

	// Open it: crm refused it with a 400, audit took it.
	refused := `table.attempts[data-sink="crm"] tr[data-outcome="permanent"]`
	if err := chromedp.Do(ctx, chromedp.Click(row+` a.event-link`), chromedp.WaitVisible(refused),
		chromedp.WaitVisible(`table.attempts[data-sink="audit"] tr[data-outcome="success"]`)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(refused))
	if err != nil || !strings.Contains(text, "400") || !strings.Contains(text, "unknown door") {
		t.Fatalf("refused attempt %q (%v)", text, err)
	}
	payload, err := chromedp.Run(ctx, chromedp.Text(`#payload`))
	if err != nil || !strings.Contains(payload, `"api_token": "[redacted]"`) || strings.Contains(payload, "tok-in-payload") {
		t.Fatalf("payload %q (%v)", payload, err)
	}
	// The request headers each attempt sent, credentials replaced, and the
	// source that handed the event on.
	for sel, want := range map[string]string{
		`table.attempts[data-sink="crm"] code.header[data-header="Webhook-Signature"]`: "Webhook-Signature: [redacted]",
		`table.attempts[data-sink="crm"] code.header[data-header="Token"]`:             "Token: [redacted]",
		`table.attempts[data-sink="crm"] code.header[data-header="Idempotency-Key"]`:   "Idempotency-Key: web-2",
		`#seen-by tr[data-source="feed"][data-times="2"]`:                              "feed (stored from it)",
	} {
		if got, err := chromedp.Run(ctx, chromedp.Text(sel)); err != nil || !strings.Contains(got, want) {
			t.Errorf("event page: %s reads %q (%v), want %q", sel, got, err, want)
		}
	}
	if body, err := chromedp.Run(ctx, chromedp.Text(`body`)); err != nil {
		t.Fatal(err)
	} else {
		for _, s := range consoleSecrets {
			if strings.Contains(body, s) {
				t.Errorf("the event page in the browser shows the secret %q", s)
			}
		}
	}
	shot("console-event.png")

	// The receiver is fixed: resend to crm and see the new attempt arrive.
	env.refuse.Store(map[string]bool{})
	if err := chromedp.Do(ctx, chromedp.Click(`#resend-crm`), chromedp.WaitVisible(`#flash`)); err != nil {
		t.Fatal(err)
	}
	eventURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	eventURL, _, _ = strings.Cut(eventURL, "?")
	waitFor(t, 30*time.Second, "the resent attempt on the event page", func() bool {
		if err := chromedp.Do(ctx, chromedp.Navigate(eventURL), chromedp.WaitVisible(`#payload`)); err != nil {
			return false
		}
		return has(`table.attempts[data-sink="crm"] tr[data-outcome="success"]`) && has(`#resends`)
	})
	shot("console-event-resent.png")

	// The overview's attempts open the same page.
	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/"), chromedp.WaitVisible(`#attempts`),
		chromedp.Click(`#attempts tr[data-event="web-2"] a.event-link`), chromedp.WaitVisible(`#payload`)); err != nil {
		t.Fatal(err)
	}
	if opened, err := chromedp.Run(ctx, chromedp.Location()); err != nil || opened != eventURL {
		t.Errorf("the overview's attempt of web-2 opened %s, want its event page %s", opened, eventURL)
	}

	// Endpoints: disable crm, then enable it again; the store follows.
	stateOf := func() webhook.State {
		st, err := env.store.Get(context.Background(), "doors", "crm")
		if err != nil {
			t.Fatal(err)
		}
		return st.State
	}
	crm := `#endpoint-stats tr[data-sink="crm"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/endpoints"), chromedp.WaitVisible(crm+`[data-state="healthy"]`)); err != nil {
		t.Fatal(err)
	}
	shot("console-endpoints.png")
	if err := chromedp.Do(ctx, chromedp.Click(crm+` button.toggle`), chromedp.WaitVisible(crm+`[data-state="disabled"]`)); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(); s != webhook.StateDisabled {
		t.Fatalf("state after Disable: %s", s)
	}
	if err := chromedp.Do(ctx, chromedp.Click(crm+` button.toggle`), chromedp.WaitVisible(crm+`[data-state="healthy"]`)); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(); s != webhook.StateEnabled {
		t.Fatalf("state after Enable: %s", s)
	}

	// Live: the chart shows this hour's attempts and grows without reload.
	caption := `document.querySelector('#chart-doors-crm .caption')`
	attempts := func() int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](caption+` ? +`+caption+`.getAttribute('data-attempts') : -1`))
		if err != nil {
			return -1
		}
		return n
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/live"), chromedp.WaitVisible(`#chart-doors-crm svg`)); err != nil {
		t.Fatal(err)
	}
	before := attempts()
	if before < 600 {
		t.Fatalf("live chart counts %d attempts at crm, want the seeded hour and this test's", before)
	}
	time.Sleep(time.Second) // let the chart and a few depth samples settle for the screenshot
	liveChartsReadable(t, b)
	shot("console-live.png")
	env.publish(t, "door.opened", "web-4")
	waitFor(t, 30*time.Second, "the live chart to count the new attempt", func() bool { return attempts() > before })

	// The bulk resend's confirmation step.
	env.refuse.Store(map[string]bool{"web-5": true})
	env.publish(t, "door.closed", "web-5")
	waitFor(t, 30*time.Second, "web-5 refused", func() bool { return env.attempts(t, "web-5", "crm", "permanent") == 1 })
	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/endpoints"), chromedp.WaitVisible(crm),
		chromedp.Click(crm+` button.bulk`), chromedp.WaitVisible(`#bulk-events`)); err != nil {
		t.Fatal(err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Text(`#bulk-count`)); err != nil || n != "1" {
		t.Fatalf("bulk count %q (%v)", n, err)
	}
	shot("console-bulk-confirm.png")
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// consoleOnJetStream: the overview says the topics are on JetStream and its
// attempts that their events have no page there; the event search says
// plainly that it cannot read the pipeline's events; endpoints and the live
// page work as on PostgreSQL (the delivery log is in the database either
// way, the depths come from JetStream).
func consoleOnJetStream(t *testing.T, b *browser) {
	ctx := b.ctx
	env := newConsoleEnvOn(t, "jetstream")
	seedHour(t, env) // first: the test's own attempts are the overview's newest
	env.refuse.Store(map[string]bool{"web-2": true})
	env.publish(t, "door.opened", "web-1", "web-2", "web-3")
	waitFor(t, 30*time.Second, "the first attempts", func() bool {
		return env.attempts(t, "web-2", "crm", "permanent") == 1 && env.attempts(t, "web-3", "crm", "success") == 1
	})

	attempt := `#attempts tr[data-event="web-2"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/?token=adm1n-t0ken"), chromedp.WaitVisible(`#pipelines`),
		chromedp.WaitVisible(attempt)); err != nil {
		t.Fatal(err)
	}
	for sel, want := range map[string]string{
		`#backend`: "NATS JetStream at 127.0.0.1:",
		attempt:    "no event page: kept in NATS JetStream",
	} {
		if got, err := chromedp.Run(ctx, chromedp.Text(sel)); err != nil || !strings.Contains(got, want) {
			t.Errorf("overview on JetStream: %s reads %q (%v), want %q", sel, got, err, want)
		}
	}
	if b.has(attempt + ` a.event-link`) {
		t.Errorf("overview on JetStream: an attempt links to an event page that cannot show it")
	}
	b.shot("console-overview.png")

	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/events"), chromedp.WaitVisible(`p.error`)); err != nil {
		t.Fatal(err)
	}
	if got, err := chromedp.Run(ctx, chromedp.Text(`p.error`)); err != nil || !strings.Contains(got, "kept in NATS JetStream, which the event pages cannot read") {
		t.Errorf("events page on JetStream reads %q (%v)", got, err)
	}
	if b.has(`#events tr[data-event]`) {
		t.Errorf("events page on JetStream lists events")
	}
	b.shot("console-events.png")

	crm := `#endpoint-stats tr[data-sink="crm"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/endpoints"), chromedp.WaitVisible(crm+`[data-state="healthy"]`)); err != nil {
		t.Fatal(err)
	}
	b.shot("console-endpoints.png")
	if err := chromedp.Do(ctx, chromedp.Click(crm+` button.toggle`), chromedp.WaitVisible(crm+`[data-state="disabled"]`),
		chromedp.Click(crm+` button.toggle`), chromedp.WaitVisible(crm+`[data-state="healthy"]`)); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(env.srv.URL+"/live"), chromedp.WaitVisible(`#chart-doors-crm svg`)); err != nil {
		t.Fatal(err)
	}
	caption := `document.querySelector('#chart-doors-crm .caption')`
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](caption+` ? +`+caption+`.getAttribute('data-attempts') : -1`)); err != nil || n < 600 {
		t.Errorf("live chart on JetStream counts %d attempts at crm (%v), want the seeded hour and this test's", n, err)
	}
	time.Sleep(time.Second) // let the chart and a few depth samples settle for the screenshot
	liveChartsReadable(t, b)
	b.shot("console-live.png")
	// Leave the live page: its stream would hold the console's server open
	// past the test (the browser closes after the pipeline's cleanup).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
}

// liveChartsReadable checks the live page's charts have a size an operator
// can read and axes: attempts per minute on the left, p95 ms on the right,
// time from −60 min to now along the bottom; a depth chart with its own.
func liveChartsReadable(t *testing.T, b *browser) {
	t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`(function () {
		var out = [], c = document.querySelector('#chart-doors-crm svg'), d = document.querySelector('[id^="depth-doors"] svg');
		if (c) { out.push('width ' + c.getAttribute('width')); c.querySelectorAll('text').forEach(function (t) { out.push(t.textContent); }); }
		if (d) { out.push('depth'); d.querySelectorAll('text').forEach(function (t) { out.push('depth ' + t.textContent); }); }
		return out;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	has := func(pred func(string) bool) bool { return slices.ContainsFunc(got, pred) }
	for what, ok := range map[string]bool{
		"900 px wide":                    slices.Contains(got, "width 900"),
		"a left axis in /min":            has(func(s string) bool { return strings.HasSuffix(s, " /min") && s != "0 /min" }),
		"a right axis in ms":             has(func(s string) bool { return strings.HasSuffix(s, " ms") && !strings.HasPrefix(s, "depth") }),
		"a time axis from −60 min":       slices.Contains(got, "−60 min") && slices.Contains(got, "now"),
		"a depth chart with a time axis": slices.Contains(got, "depth now"),
	} {
		if !ok {
			t.Errorf("live chart: no %s: %q", what, got)
		}
	}
}
