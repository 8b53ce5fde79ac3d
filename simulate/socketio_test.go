package simulate_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/simulate"
)

// TestSocketIOSimulatorEvents: the panel's events are reproducible from the
// seed, shaped like seed 001's, carry stable ids, and the token rotates every
// RotateEvery events, with GET /socketio/token handing out the current one.
func TestSocketIOSimulatorEvents(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	a := simulate.NewSocketIO(simulate.SocketIOConfig{Seed: 3, RotateEvery: 4})
	b := simulate.NewSocketIO(simulate.SocketIOConfig{Seed: 3, RotateEvery: 4})
	other := simulate.NewSocketIO(simulate.SocketIOConfig{Seed: 4, RotateEvery: 4})
	if a.Token() != b.Token() || a.Token() == other.Token() || !strings.HasPrefix(a.Token(), "simpanel-1-") {
		t.Fatalf("tokens %q %q %q", a.Token(), b.Token(), other.Token())
	}
	mux := http.NewServeMux()
	a.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	served := func() string {
		resp, err := http.Get(srv.URL + "/socketio/token")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return body.Token
	}

	topics := map[string]int{}
	tokens := map[string]bool{a.Token(): true}
	for i := 1; i <= 200; i++ {
		ea, eb := a.Next(at), b.Next(at)
		ja, _ := json.Marshal(ea)
		jb, _ := json.Marshal(eb)
		if string(ja) != string(jb) {
			t.Fatalf("step %d differs for the same seed:\n%s\n%s", i, ja, jb)
		}
		var ev struct {
			ID    string `json:"id"`
			Topic string `json:"topic"`
			Body  struct {
				DoorID int `json:"doorId"`
			} `json:"body"`
			Occurred string `json:"occurred"`
		}
		raw, _ := json.Marshal(ea[0].Data)
		if err := json.Unmarshal(raw, &ev); err != nil || ev.Topic != ea[0].Name || ev.Body.DoorID < 1 || ev.Occurred != "2026-11-29 12:00:00" {
			t.Fatalf("step %d: event %s (%v)", i, raw, err)
		}
		if ev.ID != "" && ev.ID != fmt.Sprintf("sio_3_%06d", i) {
			t.Fatalf("step %d: id %q", i, ev.ID)
		}
		for _, e := range ea {
			topics[e.Name]++
		}
		if i%4 == 0 {
			if tokens[a.Token()] {
				t.Fatalf("step %d: token did not rotate", i)
			}
			tokens[a.Token()] = true
		}
		if got := served(); got != a.Token() {
			t.Fatalf("step %d: /socketio/token served a stale token", i)
		}
	}
	if len(tokens) != 51 {
		t.Fatalf("%d tokens over 200 events, want 51", len(tokens))
	}
	if topics["door.request.allowed"] < 60 || topics["liveEvent"] == 0 || len(topics) < 6 {
		t.Fatalf("topic mix %v", topics)
	}
}
