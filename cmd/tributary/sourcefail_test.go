package main_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestBinarySourceStoppedForGood: a batch feed whose feed id the provider
// does not know (404) stops for good. The process runs on, but /readyz
// answers 503 naming the source and the reason, tributary_source_up is 0 and
// the admin page shows the source failed, while the good source stays ok.
// With --fail-fast the binary exits 8 instead.
func TestBinarySourceStoppedForGood(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL}
	migrate(t, env)
	simAddr := freeAddr(t)
	sim := start(t, env, "simulate", "--addr", simAddr, "--interval", "200ms", "--feed-client-secret", "s3cret")
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })

	feed := func(name, id string) string {
		return fmt.Sprintf(`
      - name: %s
        type: batchfeed
        options:
          base_url: http://%s
          feed_id: %s
          auth: { oauth2: { token_url: "http://%s/oauth2/token", client_id: tributary-quickstart, client_secret: s3cret } }
          tenant_id: bded51d4-598e-4079-9cf6-43e74144b415
          poll_interval: 200ms`, name, simAddr, id, simAddr)
	}
	file := filepath.Join(t.TempDir(), "feeds.yaml")
	yaml := "pipelines:\n  - name: feeds\n    sources:" + feed("journey", "journey") + feed("bogus", "nosuchfeed") + `
    sinks: [{ name: out, type: log, options: { path: ` + filepath.Join(t.TempDir(), "out.jsonl") + ` } }]
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	metricsAddr, adminAddr := freeAddr(t), freeAddr(t)
	run := start(t, env, "run", "-c", file, "--metrics-addr", metricsAddr, "--admin", adminAddr)
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var ready string
	waitFor(t, 60*time.Second, "/readyz to report the bogus feed failed", func() bool {
		code, body := get("http://" + metricsAddr + "/readyz")
		ready = body
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"source feeds/bogus":"failed`) && strings.Contains(body, `"router":"ok"`)
	})
	for _, want := range []string{`"source feeds/bogus":"failed: batchfeed: feed \"nosuchfeed\" not found (404)`, `"source feeds/journey":"ok"`, `"router":"ok"`, `"database":"ok"`} {
		if !strings.Contains(ready, want) {
			t.Errorf("/readyz lacks %s:\n%s", want, ready)
		}
	}
	if up := metricLine(metricsAddr, `tributary_source_up{pipeline="feeds",source="bogus"}`); up != 0 {
		t.Errorf(`tributary_source_up{pipeline="feeds",source="bogus"} = %v, want 0`, up)
	}
	waitFor(t, 30*time.Second, "the good feed up", func() bool {
		return metricLine(metricsAddr, `tributary_source_up{pipeline="feeds",source="journey"}`) == 1
	})
	_, page := get("http://" + adminAddr + "/")
	bogus := regexp.MustCompile(`(?s)<div class="source" data-source="bogus">.*?</div>`).FindString(page)
	if !strings.Contains(bogus, `<span class="failed">failed</span>`) || !strings.Contains(bogus, "not found (404)") {
		t.Errorf("admin page does not show bogus failed with its reason:\n%s", bogus)
	}
	if journey := regexp.MustCompile(`(?s)<div class="source" data-source="journey">.*?</div>`).FindString(page); !strings.Contains(journey, `<span class="up">up</span>`) {
		t.Errorf("admin page does not show journey up:\n%s", journey)
	}
	run.stop(t) // still running, and stops cleanly (exit 0)

	// --fail-fast: exit 8, naming the source and the reason.
	r := runFor(t, 60*time.Second, env, "run", "-c", file, "--metrics-addr", "", "--fail-fast")
	if r.code != 8 || !strings.Contains(r.stderr, `source "bogus" of pipeline "feeds" (batchfeed) stopped for good`) || !strings.Contains(r.stderr, "not found (404)") {
		t.Fatalf("run --fail-fast: exit %d, want 8 naming the source\nstderr: %s", r.code, tail(r.stderr, 2000))
	}
}
