package ops_test

import (
	"context"
	"os"
	"path/filepath"
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

// TestConsoleInChromium drives the console in headless Chromium: search for
// an event, open it, see the refused attempt, resend it to its sink once the
// receiver is fixed and see the new attempt arrive; disable and enable the
// endpoint; watch the live page update over server-sent events. It saves a
// screenshot of each page.
func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	t.Parallel()
	chrome := chromiumPath(t)
	shots := screenshotDir(t)
	env := newConsoleEnv(t)
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

	// An hour of earlier traffic, so the charts and percentiles have a
	// shape (their rows have no topic event: nothing to resend). It starts
	// 58 minutes ago: no row leaves the live chart's hour (which starts at
	// a minute boundary) during the test, so its count only grows.
	if _, err := env.pool.Exec(context.Background(), `
		INSERT INTO tributary_delivery_attempts (pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms, status_code, outcome)
		SELECT 'doors', s, 'http://receiver/' || s, 'hist-' || i, 'hist-' || s || i, 1, now() - make_interval(secs => 3480 - i * 3.4),
			20 + 15 * sin(i / 80.0) + (i % 7) * 3 + CASE WHEN s = 'audit' THEN 25 ELSE 0 END,
			CASE WHEN i % 97 = 0 THEN 503 ELSE 204 END, CASE WHEN i % 97 = 0 THEN 'transient' ELSE 'success' END
		FROM generate_series(1, 990) i, unnest(ARRAY['crm', 'audit']) s
		WHERE i % 3 <> 0 OR i % 50 < 25`); err != nil {
		t.Fatal(err)
	}

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 120*time.Second)
	defer cancel()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	has := func(selector string) bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector(`+jsString(selector)+`)`))
		return err == nil && ok
	}

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
	t.Logf("screenshots in %s", shots)
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
