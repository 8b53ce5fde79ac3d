package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplesValidate runs `tributary validate` on every shipped
// examples/*.yaml, with an empty environment for the variables they use, so
// that each ${VAR:-default} must stand on its own.
func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found only %v in examples/", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Unset (empty) every variable the file names, so defaults are used.
		env := []string{"DATABASE_URL="}
		for _, part := range strings.Split(string(data), "${")[1:] {
			name, _, _ := strings.Cut(part, "}")
			name, _, _ = strings.Cut(name, ":-")
			env = append(env, name+"=")
		}
		r := runCLI(t, env, "validate", "-c", f)
		if r.code != 0 || !strings.Contains(r.stdout, "ok (") {
			t.Errorf("validate %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(f), r.code, r.stdout, r.stderr)
		}
	}
}
