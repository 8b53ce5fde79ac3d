package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestQuickstartFileEndToEnd runs the shipped examples/quickstart.yaml, as
// is, against the simulators: events from the ETag event log (etagpoll) and
// from two batch feeds (batchfeed, OAuth2 + tenant header) arrive at the
// receiver (which demands the quickstart's token), once each. Restarted, the
// pipeline re-reads the event log's overlap window and dedup drops the
// repeats: still no duplicate at the receiver. Then `feed discard` empties a
// simulated feed.
func TestQuickstartFileEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	simAddr := freeAddr(t)
	base := "http://" + simAddr
	env := []string{
		"DATABASE_URL=" + dbURL,
		"TRIBUTARY_SIMULATOR_URL=" + base,
		"TRIBUTARY_RECEIVER_URL=" + base + "/webhook",
		"RECEIVER_TOKEN=qs-" + t.Name(),
	}
	if r := runCLI(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	sim := start(t, env, "simulate", "--addr", simAddr, "--interval", "300ms") // takes RECEIVER_TOKEN from the environment
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
	quickstart := filepath.Join("..", "..", "examples", "quickstart.yaml")
	metrics1 := freeAddr(t)
	run := start(t, env, "run", "-c", quickstart, "--metrics-addr", metrics1)

	// bySource checks every delivery so far and counts them per source.
	bySource := func() map[string]int {
		n := map[string]int{}
		seen := map[string]bool{}
		for _, r := range getReceived(t, base) {
			if r.Status != 200 || r.Duplicate || seen[r.EventID] || !traceparent.MatchString(r.Traceparent) {
				t.Fatalf("receiver got %+v (duplicate: %v)", r, seen[r.EventID])
			}
			switch r.Source {
			case "eventlog", "journey", "screening":
			default:
				t.Fatalf("delivery from unexpected source %q: %+v", r.Source, r)
			}
			seen[r.EventID] = true
			n[r.Source]++
		}
		return n
	}
	waitFor(t, 60*time.Second, "events from the event log and both feeds", func() bool {
		n := bySource()
		// 12 + 3 notifications wait on the feeds at start.
		return n["eventlog"] >= 3 && n["journey"] >= 12 && n["screening"] >= 3
	})
	run.stop(t)

	before := bySource()
	metrics2 := freeAddr(t)
	run2 := start(t, env, "run", "-c", quickstart, "--metrics-addr", metrics2)
	waitFor(t, 60*time.Second, "re-read event-log events to be deduplicated", func() bool {
		return metric(t, metrics2, "tributary_events_deduped_total") > 0
	})
	waitFor(t, 60*time.Second, "new events after the restart", func() bool {
		n := bySource()
		return n["eventlog"] > before["eventlog"] && n["journey"]+n["screening"] > before["journey"]+before["screening"]
	})
	run2.stop(t)
	bySource()

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
	for _, want := range []string{"applying migrations", "admin page", "receiver #1 ", "source=eventlog", "source=journey"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("quickstart output lacks %q:\n%s", want, out)
		}
	}
}
