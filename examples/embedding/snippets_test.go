package embedding_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// normalize drops indentation and blank lines, so that a snippet indented
// for the document matches the same lines in a Go file.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSnippetsCompile: every ```go block of docs/embedding.md appears, line
// for line, in this package's test files or in examples/customsource, which
// the Go toolchain compiles (and, for the examples, runs): the document
// cannot show code that does not build.
func TestSnippetsCompile(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "embedding.md"))
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	files, _ := filepath.Glob("*_test.go")
	files = append(files, filepath.Join("..", "customsource", "main.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code.WriteString(normalize(string(b)) + "\n")
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d Go snippets in docs/embedding.md; has the document moved?", len(blocks))
	}
	for _, b := range blocks {
		if !strings.Contains(code.String(), normalize(b[1])) {
			t.Errorf("this snippet of docs/embedding.md is not compiled code (copy it from examples/embedding):\n%s", b[1])
		}
	}
}
