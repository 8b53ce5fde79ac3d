package ops_test

import (
	"context"
	"github.com/tributary-dev/tributary/sinks/httpsink"
	"github.com/tributary-dev/tributary/sources/generator"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/router"
)

// pipelineWithPoison runs a pipeline whose receiver refuses event adm-000002
// (400: permanent, poisoned at once) until allow is set, and waits until it
// is in the poison queue.
func pipelineWithPoison(t *testing.T) (*pgxpool.Pool, []ops.PipelineInfo, *atomic.Bool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	var allow atomic.Bool
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Tributary-Event-Id") == "adm-000002" && !allow.Load() {
			http.Error(w, "no such door", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	gen := generator.New(generator.Config{Count: 3, Interval: 10 * time.Millisecond, Prefix: "adm"}, "gen", nil)
	sink := httpsink.New(httpsink.Config{URL: recv.URL, AllowPrivateNetworks: true}, "doors", "hook", pool, nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "gen", Source: gen}},
		Sinks:   []router.Sink{{Name: "hook", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	q := router.NewPoisonQueue(pool)
	waitFor(t, 30*time.Second, "adm-000002 to be poisoned", func() bool {
		n, _ := q.Count(context.Background(), router.PoisonFilter{})
		return n == 1
	})
	infos := []ops.PipelineInfo{{Name: "doors", Sources: []ops.ComponentInfo{{Name: "gen", Type: "generator"}},
		Sinks: []ops.ComponentInfo{{Name: "hook", Type: "http"}}}}
	return pool, infos, &allow
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TRIBUTARY_REQUIRE_PEERS") == "1" {
		t.Fatal("chromium not found and TRIBUTARY_REQUIRE_PEERS=1: apt-get install -y chromium")
	}
	t.Skip("chromium not found (apt-get install -y chromium); skipping the browser test")
	return ""
}

// TestAdminPageReplayInChromium: load the admin page in headless Chromium,
// see the poisoned message, click Replay, and see it delivered.
func TestAdminPageReplayInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	t.Parallel()
	chrome := chromiumPath(t)
	pool, infos, allow := pipelineWithPoison(t)
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Pipelines: infos, Token: "t0ken"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	row := `#poison tr[data-event="adm-000002"]`
	// ?token= sets the session cookie and redirects to / without the token.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?token=t0ken"), chromedp.WaitVisible(row)); err != nil {
		t.Fatal(err)
	}
	rowText, err := chromedp.Run(ctx, chromedp.Text(row))
	if err != nil {
		t.Fatal(err)
	}
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rowText, "doors / hook") || !strings.Contains(rowText, "400") || strings.Contains(location, "token=") {
		t.Fatalf("poison row %q at %s", rowText, location)
	}

	allow.Store(true) // the receiver is fixed; now replay
	if err := chromedp.Do(ctx, chromedp.Click(row+` button`), chromedp.WaitVisible(`#flash`)); err != nil {
		t.Fatal(err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(`#flash`))
	if err != nil || !strings.Contains(flash, "Replayed poison message") {
		t.Fatalf("flash %q (%v)", flash, err)
	}
	waitFor(t, 30*time.Second, "the page to show adm-000002 delivered", func() bool {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(`#attempts`)); err != nil {
			return false
		}
		delivered, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`!!document.querySelector('#attempts tr[data-event="adm-000002"][data-outcome="success"]') && !!document.querySelector('#poison-empty')`))
		return err == nil && delivered
	})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// TestAdminAuthAndCSRF: the token gates every page; replay needs the page's
// form token and a same-origin request.
func TestAdminAuthAndCSRF(t *testing.T) {
	t.Parallel()
	pool, infos, allow := pipelineWithPoison(t)
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Pipelines: infos, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	do := func(method, path string, h map[string]string, form url.Values) (int, string) {
		code, body, _ := request(t, srv.URL, method, path, h, form)
		return code, body
	}
	bearer := map[string]string{"Authorization": "Bearer s3cret"}
	if code, _ := do("GET", "/", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := do("GET", "/?token=wrong", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := do("GET", "/?token=s3cret", nil, nil); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	code, page := do("GET", "/", bearer, nil)
	m := csrfField.FindStringSubmatch(page)
	if code != 200 || m == nil || !strings.Contains(page, "adm-000002") {
		t.Fatalf("page: %d, csrf %v", code, m)
	}
	ids := regexp.MustCompile(`action="/poison/(\d+)/replay"`).FindStringSubmatch(page)
	path := "/poison/" + ids[1] + "/replay"
	if code, _ := do("POST", path, bearer, url.Values{}); code != http.StatusForbidden {
		t.Fatalf("replay without form token: %d", code)
	}
	cross := map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "cross-site"}
	if code, _ := do("POST", path, cross, url.Values{"csrf": {m[1]}}); code != http.StatusForbidden {
		t.Fatalf("cross-site replay: %d", code)
	}
	if n, _ := router.NewPoisonQueue(pool).Count(context.Background(), router.PoisonFilter{}); n != 1 {
		t.Fatalf("a refused request replayed the message (%d left)", n)
	}
	// The receiver is fixed first: a replayed message it refused again
	// would be back in the poison queue before the count below.
	allow.Store(true)
	if code, _ := do("POST", path, bearer, url.Values{"csrf": {m[1]}}); code != http.StatusSeeOther {
		t.Fatalf("replay: %d", code)
	}
	if n, _ := router.NewPoisonQueue(pool).Count(context.Background(), router.PoisonFilter{}); n != 0 {
		t.Fatalf("replay left %d records", n)
	}
}

func TestQueueDepths(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	infos := []ops.PipelineInfo{{Name: "idle", Sinks: []ops.ComponentInfo{{Name: "a"}}}}
	ds, err := ops.QueueDepths(context.Background(), pool, infos)
	if err != nil || len(ds) != 1 || ds[0].Lag != 0 {
		t.Fatalf("depths before the topics exist: %+v %v", ds, err)
	}
	// Three messages, no consumer group yet.
	ctx := context.Background()
	pub, err := router.Postgres(pool).Publisher(nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := pub.Publish(router.Topic("idle"), message.NewMessage(watermill.NewUUID(), []byte("{}"))); err != nil {
			t.Fatal(err)
		}
	}
	ds, err = ops.QueueDepths(ctx, pool, infos)
	if err != nil || ds[0].Lag != 3 {
		t.Fatalf("lag with no consumer yet: %+v %v", ds, err)
	}
	// The group moved past the first two, and still holds a claim on the first.
	if _, err := pool.Exec(ctx, `
		INSERT INTO tributary_consumers (topic, consumer_group, position)
		SELECT topic, 'a', "offset" FROM tributary_messages WHERE topic = 'tributary.idle' ORDER BY "offset" OFFSET 1 LIMIT 1;
		INSERT INTO tributary_claims (topic, consumer_group, offsets, owner, expires_at)
		SELECT topic, 'a', ARRAY["offset"], 'x', now() FROM tributary_messages WHERE topic = 'tributary.idle' ORDER BY "offset" LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	ds, err = ops.QueueDepths(ctx, pool, infos)
	if err != nil || ds[0].Lag != 2 {
		t.Fatalf("lag with one past the position and one claimed: %+v %v", ds, err)
	}
}
