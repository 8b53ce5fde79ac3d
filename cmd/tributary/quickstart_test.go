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
// is, against the simulators and sees its events arrive at the receiver
// (which demands the quickstart's token), once each.
func TestQuickstartFileEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	simAddr := freeAddr(t)
	env := []string{
		"DATABASE_URL=" + dbURL,
		"TRIBUTARY_RECEIVER_URL=http://" + simAddr + "/webhook",
		"RECEIVER_TOKEN=qs-" + t.Name(),
	}
	if r := runCLI(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	sim := start(t, env, "simulate", "--addr", simAddr) // takes RECEIVER_TOKEN from the environment
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
	start(t, env, "run", "-c", filepath.Join("..", "..", "examples", "quickstart.yaml"), "--metrics-addr", "")
	base := "http://" + simAddr
	waitFor(t, 60*time.Second, "three quickstart events at the receiver", func() bool { return len(getReceived(t, base)) >= 3 })
	seen := map[string]bool{}
	for _, r := range getReceived(t, base) {
		if r.Status != 200 || r.Duplicate || r.Source != "demo" || seen[r.EventID] {
			t.Fatalf("receiver got %+v", r)
		}
		seen[r.EventID] = true
	}
	if !seen["demo-000001"] {
		t.Fatalf("first event missing: %v", seen)
	}
}

// TestQuickstartScript runs scripts/quickstart.sh (with DATABASE_URL, so it
// skips starting a cluster) for a few seconds and sees deliveries printed.
func TestQuickstartScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quickstart script")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./scripts/quickstart.sh")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pgtest.NewDatabase(t), "QUICKSTART_SECONDS=6")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"applying migrations", "admin page", "receiver #1 ", "event=demo-"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("quickstart output lacks %q:\n%s", want, out)
		}
	}
}
