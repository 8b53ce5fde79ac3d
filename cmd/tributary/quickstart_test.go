package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// quickstartSecret differs from the file's default, so the test proves that
// ${TRIBUTARY_RECEIVER_SECRET} reaches the webhook sink's signer.
const quickstartSecret = "whsec_cXVpY2tzdGFydC1lMmUtc2lnbmluZy1rZXktMzItYnl0ZXMh"

// TestQuickstartFileEndToEnd runs the shipped examples/quickstart.yaml, as
// is, against the simulators: events from all three kinds of provider source
// — the ETag event log (etagpoll), the Socket.IO panel (socketio) and two
// batch feeds (batchfeed, OAuth2 + tenant header) — arrive at the receiver
// through the webhook sink, signed (the receiver verifies the Standard
// Webhooks signature and demands the token), each once, each with the W3C
// trace its source started. Restarted, the pipeline re-reads the event log's
// overlap window and dedup drops the repeats: the dedup counter rises and
// still no event reaches the receiver twice. Then `feed discard` empties a
// simulated feed.
func TestQuickstartFileEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	simAddr := freeAddr(t)
	base := "http://" + simAddr
	token := "qs-" + t.Name()
	env := []string{
		"DATABASE_URL=" + dbURL,
		"TRIBUTARY_SIMULATOR_URL=" + base,
		"TRIBUTARY_RECEIVER_URL=" + base + "/webhook",
		"TRIBUTARY_RECEIVER_SECRET=" + quickstartSecret,
		"RECEIVER_TOKEN=" + token,
	}
	if r := runCLI(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	quickstart := filepath.Join("..", "..", "examples", "quickstart.yaml")
	if r := runCLI(t, env, "validate", "-c", quickstart); r.code != 0 {
		t.Fatalf("validate: %+v", r)
	}
	// As scripts/quickstart.sh starts it: the receiver checks token and signature.
	sim := start(t, env, "simulate", "--addr", simAddr, "--interval", "300ms",
		"--receiver-secret", quickstartSecret, "--receiver-token", token)
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
	metrics1 := freeAddr(t)
	run := start(t, env, "run", "-c", quickstart, "--metrics-addr", metrics1)

	// bySource checks every delivery so far — accepted (right token), signed
	// (valid signature), traced, never an event id twice — and counts them
	// per source.
	typeOf := map[string]string{"eventlog": "etagpoll", "panel": "socketio", "journey": "batchfeed", "screening": "batchfeed"}
	bySource := func() map[string]int {
		n := map[string]int{}
		seen := map[string]bool{}
		for _, r := range getReceivedQuickstart(t, base) {
			if r.EventID == forgedID && r.Status == 401 {
				continue // postUnsigned's
			}
			if r.Status != 200 || r.Signature != "valid" || r.Duplicate || seen[r.EventID] || r.EventID == "" ||
				!traceparent.MatchString(r.Traceparent) {
				t.Fatalf("receiver got %+v (seen before: %v)", r, seen[r.EventID])
			}
			if _, ok := typeOf[r.Source]; !ok {
				t.Fatalf("delivery from unexpected source %q: %+v", r.Source, r)
			}
			seen[r.EventID] = true
			n[r.Source]++
		}
		return n
	}
	waitFor(t, 60*time.Second, "events from the event log, the socket and both feeds", func() bool {
		n := bySource()
		// 12 + 3 notifications wait on the feeds at start.
		return n["eventlog"] >= 3 && n["panel"] >= 3 && n["journey"] >= 12 && n["screening"] >= 3
	})
	// The signature and token checks are real: the receiver refused nothing so far,
	// and a request without them is refused.
	if code := postUnsigned(t, base+"/webhook"); code != 401 {
		t.Fatalf("unsigned request without token: %d, want 401", code)
	}
	run.stop(t)
	if strings.Contains(run.stderr.String(), token) || strings.Contains(run.stderr.String(), quickstartSecret) {
		t.Fatalf("a secret reached the logs:\n%s", tail(run.stderr.String(), 2000))
	}

	before := bySource()
	metrics2 := freeAddr(t)
	run2 := start(t, env, "run", "-c", quickstart, "--metrics-addr", metrics2)
	waitFor(t, 60*time.Second, "re-read event-log events to be deduplicated", func() bool {
		return metric(t, metrics2, "tributary_events_deduped_total") > 0
	})
	waitFor(t, 60*time.Second, "new events from every source type after the restart", func() bool {
		n := bySource()
		return n["eventlog"] > before["eventlog"] && n["panel"] > before["panel"] &&
			n["journey"]+n["screening"] > before["journey"]+before["screening"]
	})
	run2.stop(t)
	bySource() // still signed, and still no event id twice
	if strings.Contains(sim.stdout.String(), "DUPLICATE") {
		t.Fatalf("the receiver printed a duplicate:\n%s", tail(sim.stdout.String(), 2000))
	}

	r := runCLI(t, env, "feed", "discard", "-c", quickstart, "--pipeline", "doors", "--source", "journey", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "discarded the pending events of doors/journey") {
		t.Fatalf("feed discard: %+v", r)
	}
	if !strings.Contains(sim.stderr.String()+r.stderr, "discardAll done") {
		t.Fatalf("no discardAll in the logs:\n%s", tail(r.stderr, 2000))
	}
}

// TestQuickstartScript runs scripts/quickstart.sh (with DATABASE_URL, so it
// skips starting a cluster) for a few seconds and sees deliveries from the
// event log (whose first events need a poll or two) and a batch feed printed.
func TestQuickstartScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quickstart script")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./scripts/quickstart.sh")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pgtest.NewDatabase(t), "QUICKSTART_SECONDS=10")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"applying migrations", "admin page", "receiver #1 ", "source=eventlog", "source=panel", "source=journey", "signature=valid"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"signature=invalid", "signature=unsigned", " 401 ", "DUPLICATE"} {
		if strings.Contains(string(out), bad) {
			t.Fatalf("quickstart output has %q:\n%s", bad, out)
		}
	}
}

// receivedQuickstart is a receiver record with what the quickstart test checks.
type receivedQuickstart struct {
	EventID     string `json:"event_id"`
	Source      string `json:"source"`
	Traceparent string `json:"traceparent"`
	Signature   string `json:"signature"`
	Duplicate   bool   `json:"duplicate"`
	Status      int    `json:"status"`
}

func getReceivedQuickstart(t *testing.T, base string) []receivedQuickstart {
	t.Helper()
	resp, err := http.Get(base + "/webhook/received")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []receivedQuickstart
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// forgedID is the event id of postUnsigned's request.
const forgedID = "forged-event"

// postUnsigned posts an event without token or signature (the receiver
// records it with status 401).
func postUnsigned(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"id":"`+forgedID+`"}`))
	req.Header.Set("webhook-id", forgedID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
