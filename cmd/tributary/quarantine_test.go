package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
)

// TestBinaryQuarantine runs the binary with a webhookin source: an event
// with a NUL in its type is answered 422 at once and lands in the ingest
// quarantine, an event with an 8 KB id is stored (200), and so is the next
// ordinary one; `tributary quarantine list/show/purge` see the record.
// Before, both unusual events were answered 503 after 30 s, on every retry.
func TestBinaryQuarantine(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL}
	migrate(t, env)
	inAddr := freeAddr(t)
	file := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`pipelines:
  - name: inbound
    sources: [{ name: hooks, type: webhookin, options: { listen: %q, path: /hooks, token: "Bearer s3cret", token_header: Authorization } }]
    sinks: [{ name: log, type: log }]
`, inAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, env, "run", "-c", file, "--metrics-addr", "")
	post := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+inAddr+"/hooks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1, err.Error()
		}
		defer resp.Body.Close()
		var answer map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&answer)
		return resp.StatusCode, answer["detail"]
	}
	waitFor(t, 30*time.Second, "the receiver to listen", func() bool { code, _ := post(`{"id":"warm-up"}`); return code == http.StatusOK })

	started := time.Now()
	if code, detail := post(`{"id":"evt-nul","type":"door\u0000opened"}`); code != http.StatusUnprocessableEntity || !strings.Contains(detail, "NUL") {
		t.Fatalf("NUL in the type: %d %q, want 422 naming the NUL", code, detail)
	}
	t.Logf("422 after %v", time.Since(started).Round(time.Millisecond))
	longID := "evt-" + pipelinetest.RandomText(8000)
	if code, detail := post(`{"id":"` + longID + `","type":"door.opened"}`); code != http.StatusOK {
		t.Fatalf("8 KB id: %d %q, want 200", code, detail)
	}
	if code, detail := post(`{"id":"evt-after","type":"door.opened"}`); code != http.StatusOK {
		t.Fatalf("the next event: %d %q, want 200", code, detail)
	}

	var recs []struct {
		ID      int64  `json:"id"`
		EventID string `json:"event_id"`
		Source  string `json:"source"`
	}
	if r := runCLI(t, env, "--json", "quarantine", "list"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &recs) != nil ||
		len(recs) != 1 || recs[0].EventID != "evt-nul" || recs[0].Source != "hooks" {
		t.Fatalf("quarantine list: %+v (%+v)", r, recs)
	}
	id := fmt.Sprint(recs[0].ID)
	if r := runCLI(t, env, "quarantine", "show", id); r.code != 0 || !strings.Contains(r.stdout, `door\x00opened`) {
		t.Fatalf("quarantine show: %+v", r)
	}
	if r := runCLI(t, env, "quarantine", "replay", id); r.code == 0 || !strings.Contains(r.stderr, "still cannot be stored") {
		t.Fatalf("quarantine replay of a NUL: %+v", r)
	}
	if r := runCLI(t, env, "quarantine", "purge", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "purged 1") {
		t.Fatalf("quarantine purge: %+v", r)
	}
}
