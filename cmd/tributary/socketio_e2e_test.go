package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestSocketIOFileEndToEnd runs the built binary with the shipped
// examples/socketio.yaml against `tributary simulate`: the Socket.IO panel's
// door events reach the webhook receiver once each, and they keep coming
// across the simulator's token rotations (the source renews its token from
// the token URL).
func TestSocketIOFileEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	simAddr := freeAddr(t)
	base := "http://" + simAddr
	env := []string{
		"DATABASE_URL=" + dbURL,
		"SOCKETIO_URL=ws://" + simAddr,
		"SOCKETIO_TOKEN_URL=" + base + "/socketio/token",
		"TRIBUTARY_RECEIVER_URL=" + base + "/webhook",
		"RECEIVER_TOKEN=sio-" + t.Name(),
	}
	migrate(t, env)
	file := filepath.Join("..", "..", "examples", "socketio.yaml")
	if r := runCLI(t, env, "validate", "-c", file); r.code != 0 {
		t.Fatalf("validate: %+v", r)
	}
	// 40 ms between events: the token rotates (every 25 events) about once a second.
	sim := start(t, env, "simulate", "--addr", simAddr, "--interval", "40ms")
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
	if !strings.Contains(sim.stdout.String(), "/socket.io/") {
		t.Fatalf("the banner lacks the Socket.IO panel:\n%s", sim.stdout.String())
	}
	metricsAddr := freeAddr(t)
	run := start(t, env, "run", "-c", file, "--metrics-addr", metricsAddr)

	const n = 60 // enough events to span at least one rotation after connecting
	waitFor(t, 90*time.Second, "socket events at the receiver", func() bool { return len(getReceived(t, base)) >= n })
	waitFor(t, 30*time.Second, "a token renewal", func() bool {
		return metricLine(metricsAddr, `tributary_socketio_token_renewals_total{pipeline="panel",reason="invalid_token",source="panel"}`) >= 1
	})
	renewedAt := len(getReceived(t, base))
	waitFor(t, 30*time.Second, "events after the renewal", func() bool { return len(getReceived(t, base)) >= renewedAt+10 })
	if st := metric(t, metricsAddr, "tributary_socketio_connection_state"); st != 2 {
		t.Fatalf("connection state %v, want 2 (connected)", st)
	}
	run.stop(t)

	resp, err := http.Get(base + "/webhook/received")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []struct {
		EventID     string          `json:"event_id"`
		EventType   string          `json:"event_type"`
		Traceparent string          `json:"traceparent"`
		Source      string          `json:"source"`
		Duplicate   bool            `json:"duplicate"`
		Status      int             `json:"status"`
		Body        json.RawMessage `json:"body"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, r := range got {
		if r.Status != 200 || r.Duplicate || r.Source != "panel" || r.EventID == "" || !traceparent.MatchString(r.Traceparent) {
			t.Fatalf("receiver got %+v", r)
		}
		if !strings.HasPrefix(r.EventType, "door.") && r.EventType != "liveEvent" {
			t.Fatalf("topic filter let %q through", r.EventType)
		}
		var ev struct {
			ID    string `json:"id"`
			Topic string `json:"topic"`
		}
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		// Events with a provider id keep it as the event id; others get a stable hash.
		if ev.ID != "" && ev.ID != r.EventID {
			t.Fatalf("event id %q, want the provider's %q", r.EventID, ev.ID)
		}
		types[r.EventType]++
	}
	if types["door.request.allowed"] == 0 || len(types) < 3 {
		t.Fatalf("event types at the receiver: %v", types)
	}
	if strings.Contains(run.stderr.String(), "simpanel-") {
		t.Fatalf("a token reached the logs:\n%s", tail(run.stderr.String(), 2000))
	}
}

// metricLine is the value of the sample whose name and labels are exactly
// series, -1 when absent.
func metricLine(addr, series string) float64 {
	for _, line := range scrape(addr) {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscanf(v, "%g", &f); err == nil {
				return f
			}
		}
	}
	return -1
}
