package main_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// webhooksFile is the example the tests run, as shipped.
var webhooksFile = filepath.Join("..", "..", "examples", "webhooks.yaml")

// A secret other than the example's default, so that the test proves the
// ${TRIBUTARY_RECEIVER_SECRET} interpolation reaches the signer.
const e2eSecret = "whsec_ZTJlLXdlYmhvb2stc2lnbmluZy1rZXktMzItYnl0ZXMh"

// receivedSigned is a receiver record with the simulator's signature verdict.
type receivedSigned struct {
	EventID     string          `json:"event_id"`
	Traceparent string          `json:"traceparent"`
	Signature   string          `json:"signature"`
	Duplicate   bool            `json:"duplicate"`
	Status      int             `json:"status"`
	Body        json.RawMessage `json:"body"`
}

func getReceivedSigned(t *testing.T, base string) []receivedSigned {
	t.Helper()
	resp, err := http.Get(base + "/webhook/received")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []receivedSigned
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// inboundTrace is the W3C trace context the test's webhook sender sends.
const inboundTrace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// TestBinaryWebhooksExample runs examples/webhooks.yaml: generator events and
// an event POSTed to the binary's webhookin listener reach the simulator's
// receiver through the webhook sink, signed (the receiver verifies the
// Standard Webhooks signature) and with the Bearer token it requires.
func TestBinaryWebhooksExample(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	simAddr, inAddr := freeAddr(t), freeAddr(t)
	base := "http://" + simAddr
	env := []string{
		"DATABASE_URL=" + dbURL,
		"TRIBUTARY_RECEIVER_SECRET=" + e2eSecret,
		"RECEIVER_TOKEN=e2e-out-token",
		"TRIBUTARY_RECEIVER_URL=" + base + "/webhook",
		"WEBHOOKIN_LISTEN=" + inAddr,
		"WEBHOOKIN_TOKEN=e2e-in-token",
		"WEBHOOKS_COUNT=5",
		"WEBHOOKS_INTERVAL=20ms",
		"WEBHOOKS_RETRY=100ms,200ms",
	}
	migrate(t, env)
	// The simulator takes its secret and token from the same variables.
	sim := start(t, env, "simulate", "--addr", simAddr)
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
	if r := runCLI(t, env, "validate", "-c", webhooksFile); r.code != 0 {
		t.Fatalf("validate: %+v", r)
	}
	run := start(t, env, "run", "-c", webhooksFile, "--metrics-addr", "")

	waitFor(t, 60*time.Second, "the generator's 5 events at the receiver", func() bool { return len(getReceivedSigned(t, base)) >= 5 })
	ids := map[string]bool{}
	for _, r := range getReceivedSigned(t, base) {
		if r.Status != 200 || r.Signature != "valid" || r.Duplicate || !traceparent.MatchString(r.Traceparent) {
			t.Fatalf("receiver got %+v, want a verified signature, the right token and a traceparent", r)
		}
		ids[r.EventID] = true
	}
	if len(ids) != 5 || !ids["demo-000001"] || !ids["demo-000005"] {
		t.Fatalf("received ids %v, want demo-000001..5", ids)
	}

	// Inbound: the webhookin listener refuses a wrong token and takes the
	// right one once the event is stored; the event is delivered onward.
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+inAddr+"/hooks/doors",
			strings.NewReader(`{"id":"inbound-evt-1","type":"door.locked","door":{"id":"door-9"}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", inboundTrace) // the sender's trace continues to the receiver
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, 20*time.Second, "the webhookin listener", func() bool { return post("wrong") == http.StatusUnauthorized })
	if code := post("e2e-in-token"); code/100 != 2 {
		t.Fatalf("inbound POST with the right token: %d, want 2xx", code)
	}
	var inbound *receivedSigned
	waitFor(t, 30*time.Second, "the inbound event at the receiver", func() bool {
		for _, r := range getReceivedSigned(t, base) {
			if r.EventID == "inbound-evt-1" {
				inbound = &r
				return true
			}
		}
		return false
	})
	if inbound.Status != 200 || inbound.Signature != "valid" || !strings.Contains(string(inbound.Body), "door-9") ||
		inbound.Traceparent != inboundTrace {
		t.Fatalf("inbound event arrived as %+v", inbound)
	}
	// A sender's retry of the same event is acknowledged and deduplicated.
	if code := post("e2e-in-token"); code/100 != 2 {
		t.Fatalf("repeated inbound POST: %d, want 2xx", code)
	}
	time.Sleep(500 * time.Millisecond) // give a (wrong) second delivery the chance to show
	run.stop(t)
	n := 0
	for _, r := range getReceivedSigned(t, base) {
		if r.EventID == "inbound-evt-1" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("inbound event delivered %d times, want once", n)
	}

	// Every delivery is in the attempt log.
	r := runCLI(t, env, "--json", "deliveries", "list", "--pipeline", "webhooks", "--sink", "receiver", "--limit", "100")
	var attempts []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &attempts) != nil || len(attempts) != 6 {
		t.Fatalf("deliveries list: %d attempts, %+v", len(attempts), r)
	}
}

// TestBinaryWebhookTest runs `tributary webhook test` on the example's sink
// against receivers that check the credentials (verified) and one that
// accepts everything (not verified, exit 6).
func TestBinaryWebhookTest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		simFlags []string
		code     int
		want     []string
	}{
		{"receiver checks the token", []string{"--receiver-token", "e2e-out-token"}, 0,
			[]string{"right credentials → 2xx", "wrong credentials → 401", "ok", "verified"}},
		{"receiver checks the signature", []string{"--receiver-secret", e2eSecret}, 0,
			[]string{"wrong credentials → 401", "verified"}},
		{"receiver accepts everything", nil, 6,
			[]string{"FAILED", "not verified: request with wrong credentials was accepted (200)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			simAddr := freeAddr(t)
			// Empty variables keep the simulator from picking up a token or secret from the environment.
			simEnv := []string{"RECEIVER_TOKEN=", "TRIBUTARY_RECEIVER_SECRET="}
			sim := start(t, simEnv, append([]string{"simulate", "--addr", simAddr}, c.simFlags...)...)
			waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
			env := []string{
				"DATABASE_URL=", // webhook test needs no database
				"TRIBUTARY_RECEIVER_URL=http://" + simAddr + "/webhook",
				"TRIBUTARY_RECEIVER_SECRET=" + e2eSecret,
				"RECEIVER_TOKEN=e2e-out-token",
			}
			r := runCLI(t, env, "webhook", "test", "-c", webhooksFile, "--pipeline", "webhooks", "--sink", "receiver")
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
			if c.code == 0 && strings.Contains(r.stdout, "not verified") {
				t.Errorf("output says not verified:\n%s", r.stdout)
			}
			// Test requests are not deliveries: the receiver saw exactly the two probes.
			if got := getReceivedSigned(t, "http://"+simAddr); len(got) != 2 {
				t.Errorf("receiver got %d requests, want the 2 probes: %+v", len(got), got)
			}
			r = runCLI(t, env, "--json", "webhook", "test", "-c", webhooksFile, "--pipeline", "webhooks", "--sink", "receiver")
			var out struct {
				OK     bool `json:"ok"`
				Checks []struct {
					Name, Detail string
					OK           bool
				} `json:"checks"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.OK != (c.code == 0) || len(out.Checks) != 3 {
				t.Fatalf("--json: %v %+v\n%s", err, out, r.stdout)
			}
		})
	}
}
