package main_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocumentedCommandsExist runs `--help` of every command in docs/cli.md's
// Commands table and checks that each flag the table shows is one the
// command has, so the reference cannot drift from the binary.
func TestDocumentedCommandsExist(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `tributary ([^`]+)` \\|")
	word := regexp.MustCompile(`^[a-z]+$`)
	flag := regexp.MustCompile(`--[a-z][a-z-]*`)
	var rows int
	for _, line := range strings.Split(string(doc), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rows++
		usage := strings.ReplaceAll(m[1], `\|`, "|")
		var cmd []string
		for _, f := range strings.Fields(usage) {
			if !word.MatchString(f) {
				break
			}
			cmd = append(cmd, f)
		}
		if len(cmd) > 1 && cmd[0] == "completion" {
			cmd = cmd[:1] // its argument is the shell
		}
		r := runCLI(t, nil, append(cmd, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "tributary "+strings.Join(cmd, " ")) {
			t.Errorf("documented command %q: exit %d\n%s%s", strings.Join(cmd, " "), r.code, r.stdout, r.stderr)
			continue
		}
		for _, f := range flag.FindAllString(usage, -1) {
			if !strings.Contains(r.stdout, f+" ") {
				t.Errorf("documented flag %s of %q is not in its --help", f, strings.Join(cmd, " "))
			}
		}
	}
	if rows < 10 {
		t.Fatalf("found %d command rows in docs/cli.md; has the table moved?", rows)
	}
}
