package ops_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestSubscriptionsConsoleInChromium is the seed's page in headless
// Chromium: add an endpoint per event type, send the three test payloads
// (each verified: right key 2xx, wrong key 401), watch a delivery arrive in
// the endpoint's queue and attempts, disable it. It saves a screenshot of
// each step.
func TestSubscriptionsConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	t.Parallel()
	chrome := chromiumPath(t)
	shots := screenshotDir(t)
	recv := pipelinetest.TokenReceiver(t, "tok-s3cret", nil)
	srv, pool := subscriptionsAdmin(t, "adm1n-t0ken")
	sink, err := subscriptions.NewSink(subscriptions.Config{Pool: pool, Pipeline: "comments", Sink: "hooks", AllowPrivateNetworks: true,
		PollInterval: 100 * time.Millisecond, Log: webhook.NewPostgresLog(pool)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 300*time.Second) // a loaded machine
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

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?token=adm1n-t0ken"), chromedp.WaitReady(`body`),
		chromedp.Navigate(srv.URL+"/subscriptions"), chromedp.WaitVisible(`#add-endpoint`)); err != nil {
		t.Fatal(err)
	}
	form := `#add-endpoint `
	if err := chromedp.Do(ctx,
		chromedp.SetValue(form+`input[name="pipeline"]`, "comments"), chromedp.SetValue(form+`input[name="sink"]`, "hooks"),
		chromedp.SetValue(form+`input[name="url"]`, recv.URL+"/comments"),
		chromedp.SetValue(form+`input[name="types"]`, "comment.created, comment.updated, comment.deleted"),
		chromedp.SetValue(form+`input[name="token"]`, "tok-s3cret"), chromedp.Click(form+`input[name="generate_secret"]`)); err != nil {
		t.Fatal(err)
	}
	shot("subscriptions-add.png")
	if err := chromedp.Do(ctx, chromedp.Click(form+`button[type="submit"]`), chromedp.WaitVisible(`#generated-secret`)); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"comment.created", "comment.updated", "comment.deleted"} {
		if err := chromedp.Do(ctx, chromedp.Click(`#test-form button[value="`+typ+`"]`),
			chromedp.WaitVisible(`#test-results tr[data-type="`+typ+`"][data-verified="true"]`)); err != nil {
			t.Fatalf("test payload %s: %v", typ, err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(`#test-results tr[data-type="`+typ+`"]`))
		if err != nil || !strings.Contains(text, "204") || !strings.Contains(text, "401") || !strings.Contains(text, "verified") {
			t.Fatalf("%s result %q (%v): want 204, 401, verified", typ, text, err)
		}
		shot("subscriptions-test-" + strings.TrimPrefix(typ, "comment.") + ".png")
	}

	waitFor(t, 30*time.Second, "the sink to load the endpoint", func() bool { ids, _ := sink.Endpoints(); return len(ids) == 1 })
	msg := tributary.NewEventMessage("c-1", []byte(`{"id":"c-1","text":"hello"}`))
	msg.Metadata.Set(tributary.MetaEventType, "comment.created")
	if err := sink.Publish("hooks", msg); err != nil {
		t.Fatal(err)
	}
	// The page after a test is the POST's answer: its address is the
	// form's; the endpoint's page is /subscriptions/<id>.
	id, err := chromedp.Run(ctx, chromedp.Text(`#endpoint tr:first-child td`))
	if err != nil || !strings.HasPrefix(id, "ep_") {
		t.Fatalf("endpoint id %q (%v)", id, err)
	}
	url := "/subscriptions/" + id
	waitFor(t, 90*time.Second, "the delivery in the queue", func() bool {
		err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+url), chromedp.WaitVisible(`#queue`))
		text, _ := chromedp.Run(ctx, chromedp.Text(`#attempts`))
		return err == nil && strings.Contains(text, "c-1") && strings.Contains(text, "success")
	})
	shot("subscriptions-delivered.png")
	if err := chromedp.Do(ctx, chromedp.SetValue(`#state-form input[name="reason"]`, "maintenance"),
		chromedp.Click(`#state-form button`), chromedp.WaitVisible(`#flash`)); err != nil {
		t.Fatal(err)
	}
	state, err := chromedp.Run(ctx, chromedp.Text(`#state`))
	if err != nil || !strings.Contains(state, "disabled: maintenance") {
		t.Fatalf("state %q (%v), want disabled", state, err)
	}
	shot("subscriptions-disabled.png")
}
