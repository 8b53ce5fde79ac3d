package main_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestQuickstartOnJetStream runs the shipped examples/quickstart.yaml from
// the binary with its topics on NATS JetStream (TRIBUTARY_BACKEND=jetstream,
// a nats-server of the test's own): events from every kind of source reach
// the receiver signed, each once, and they went through the pipeline's
// stream, not a Postgres topic.
func TestQuickstartOnJetStream(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	simAddr := freeAddr(t)
	base := "http://" + simAddr
	token := "qs-" + t.Name()
	env := []string{
		"DATABASE_URL=" + dbURL,
		"TRIBUTARY_BACKEND=jetstream",
		"NATS_URL=" + srv.URL,
		"TRIBUTARY_SIMULATOR_URL=" + base,
		"TRIBUTARY_RECEIVER_URL=" + base + "/webhook",
		"TRIBUTARY_RECEIVER_SECRET=" + quickstartSecret,
		"RECEIVER_TOKEN=" + token,
	}
	if r := runCLI(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	quickstart := filepath.Join("..", "..", "examples", "quickstart.yaml")
	sim := start(t, env, "simulate", "--addr", simAddr, "--interval", "300ms",
		"--receiver-secret", quickstartSecret, "--receiver-token", token)
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
	run := start(t, env, "run", "-c", quickstart, "--metrics-addr", freeAddr(t))

	bySource := func() map[string]int {
		n := map[string]int{}
		seen := map[string]bool{}
		for _, r := range getReceivedQuickstart(t, base) {
			if r.Status != 200 || r.Signature != "valid" || r.Duplicate || seen[r.EventID] || r.EventID == "" {
				t.Fatalf("receiver got %+v (seen before: %v)", r, seen[r.EventID])
			}
			seen[r.EventID] = true
			n[r.Source]++
		}
		return n
	}
	waitFor(t, 60*time.Second, "events from the event log, the socket and both feeds", func() bool {
		n := bySource()
		return n["eventlog"] >= 3 && n["panel"] >= 3 && n["journey"] >= 12 && n["screening"] >= 3
	})
	run.stop(t)
	delivered := 0
	for _, c := range bySource() {
		delivered += c
	}

	ctx := context.Background()
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, "tributary_doors")
	if err != nil {
		t.Fatalf("the pipeline's stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.State.LastSeq) < delivered {
		t.Fatalf("stream stored %d events, but %d were delivered", info.State.LastSeq, delivered)
	}
	var inPostgres int
	if err := pgtest.PoolFor(t, dbURL).QueryRow(ctx, `SELECT count(*) FROM tributary_messages`).Scan(&inPostgres); err != nil {
		t.Fatal(err)
	}
	if inPostgres != 0 {
		t.Fatalf("%d events in Postgres topics; want none on the JetStream backend", inPostgres)
	}
	t.Logf("%d events delivered through JetStream (stream last sequence %d)", delivered, info.State.LastSeq)
}
