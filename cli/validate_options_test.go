package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidatePositionsOptionErrors: the router's, middleware's and
// backend's own Validate name the key; `validate` prints each problem at
// its line and column in the file.
func TestValidatePositionsOptionErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(file, []byte(`backend: { type: jetstream, replicas: 9 }
pipelines:
  - name: p
    sources: [{ name: gen, type: generator }]
    dedup: { ttl: -1h }
    retry:
      in_process: { multiplier: 0.5 }
    sinks:
      - name: out
        type: log
        retry: { preset: hourly }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := execute(t, nil, "validate", "-c", file)
	if code != ExitConfig {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitConfig, out, errs)
	}
	for _, want := range []string{
		"p.yaml:1:39: backend.replicas: 9; want 1 to 5",
		"p.yaml:5:19: pipelines[0].dedup.ttl: must not be negative",
		"p.yaml:7:33: pipelines[0].retry.in_process.multiplier: must be at least 1",
		`p.yaml:11:26: pipelines[0].sinks[0].retry.preset: schedule "hourly"`,
	} {
		if !strings.Contains(out+errs, want) {
			t.Errorf("output lacks %q:\n%s%s", want, out, errs)
		}
	}
}
