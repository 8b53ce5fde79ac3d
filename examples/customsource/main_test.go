package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/tributarytest"
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
	env := append(os.Environ(), "DATABASE_URL="+newDatabase(t), "RECEIVER_URL="+recv.URL, "COUNT_FROM=3")

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

// newDatabase creates an empty database on the tests' PostgreSQL
// (TRIBUTARY_TEST_DATABASE_URL, as the tributary module's tests use), dropped
// when t ends. This module is outside tributary's, so it cannot reach
// tributary's internal test helpers: a user's own tests look like this.
func newDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("TRIBUTARY_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to PostgreSQL at %s: %v", admin, err)
	}
	defer c.Close(ctx)
	name := fmt.Sprintf("customsource_%d", time.Now().UnixNano())
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("TRIBUTARY_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestCountdownConformance runs tributary's source conformance suite on the
// countdown source, as a user tests their own: each run counts down from 100,
// so the events a test asks for are the next ids of the countdown.
func TestCountdownConformance(t *testing.T) {
	tributarytest.TestSource(t, tributarytest.Features{Ordered: true, Restarts: true}, func(t *testing.T) tributarytest.Harness {
		next := 100
		return tributarytest.Harness{
			Source: countdown("launch", Config{From: 100, Interval: time.Millisecond}),
			Publish: func(t *testing.T, n int) []string {
				var ids []string
				for range n {
					ids = append(ids, fmt.Sprintf("launch-%d", next))
					next--
				}
				return ids
			},
		}
	})
}
