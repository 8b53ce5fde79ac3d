package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestCustomSourceRunsInTheCLI builds this program, a main of its own over
// cli.Main with the countdown type registered, and runs `migrate` and
// `run -c pipeline.yaml` against the tests' Postgres: the countdown's events
// arrive at a loopback receiver through the built-in http sink.
func TestCustomSourceRunsInTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example")
	}
	bin := filepath.Join(t.TempDir(), "customsource")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var mu sync.Mutex
	got := map[string]bool{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID    string `json:"id"`
			Label string `json:"label"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.Label != "liftoff" || r.Header.Get("X-Tributary-Source") != "launch" {
			t.Errorf("unexpected delivery %+v (source %q, err %v)", ev, r.Header.Get("X-Tributary-Source"), err)
		}
		mu.Lock()
		got[ev.ID] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	env := append(os.Environ(), "DATABASE_URL="+pgtest.NewDatabase(t), "RECEIVER_URL="+recv.URL, "COUNT_FROM=3")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	migrate := exec.CommandContext(ctx, bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}

	// --metrics-addr "": no fixed port that another process may hold.
	run := exec.CommandContext(ctx, bin, "run", "-c", "pipeline.yaml", "--metrics-addr", "")
	run.Env = env
	var stderr bytes.Buffer
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	want := []string{"launch-1", "launch-2", "launch-3"}
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for id := range got {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return ids
	}
	for strings.Join(received(), ",") != strings.Join(want, ",") {
		select {
		case err := <-done:
			t.Fatalf("run exited (%v) having delivered %v\n%s", err, received(), stderr.String())
		case <-ctx.Done():
			t.Fatalf("delivered %v, want %v\n%s", received(), want, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = run.Process.Signal(os.Interrupt)
	if err := <-done; err != nil {
		t.Fatalf("run did not stop cleanly: %v\n%s", err, stderr.String())
	}
}
