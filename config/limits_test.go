package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/config"
)

// fileWithHeaders is a pipeline file whose http sink has n headers, in a
// block mapping (style "block") or a flow one ("flow").
func fileWithHeaders(n int, style string) []byte {
	var b strings.Builder
	b.WriteString("pipelines:\n  - name: p\n    sources:\n      - name: g\n        type: generator\n    sinks:\n" +
		"      - name: s\n        type: http\n        options:\n          url: \"http://x/\"\n          headers:")
	for i := range n {
		if style == "flow" {
			sep := ", "
			if i == 0 {
				sep = " {"
			}
			fmt.Fprintf(&b, "%sX-H%d: v%d", sep, i, i)
		} else {
			fmt.Fprintf(&b, "\n            X-H%d: v%d", i, i)
		}
	}
	if style == "flow" {
		b.WriteString("}")
	}
	b.WriteString("\n")
	return []byte(b.String())
}

// TestLargeFilesRefused: a block mapping of more than MaxMappingKeys keys
// (which the YAML parser would take quadratic time over: 40,000 keys took
// 13 s) and a file over MaxFileBytes are refused before parsing, with a
// clear error at the first key over; a mapping at the limit, and many
// pipelines whose mappings are each small, still load.
func TestLargeFilesRefused(t *testing.T) {
	t.Parallel()
	lookup := func(string) (string, bool) { return "", false }
	_, err := config.Load("big.yaml", fileWithHeaders(config.MaxMappingKeys+1, "block"), lookup)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d keys", config.MaxMappingKeys)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("big.yaml:%d:", 12+config.MaxMappingKeys)) {
		t.Fatalf("error %v; want the key over the limit named", err)
	}
	if _, err := config.Load("ok.yaml", fileWithHeaders(config.MaxMappingKeys, "block"), lookup); err != nil {
		t.Fatalf("a mapping at the limit: %v", err)
	}
	huge := append(fileWithHeaders(10, "block"), strings.Repeat("# padding\n", config.MaxFileBytes/10)...)
	if _, err := config.Load("huge.yaml", huge, lookup); err == nil || !strings.Contains(err.Error(), "MiB a pipeline file may be") {
		t.Fatalf("error %v; want the file size refused", err)
	}
	var many strings.Builder
	many.WriteString("pipelines:\n")
	for i := range config.MaxMappingKeys / 2 { // 3 keys each at one column: 7,500 in all
		fmt.Fprintf(&many, "  - name: p%d\n    sources: [{name: g, type: generator}]\n    sinks: [{name: s, type: log}]\n", i)
	}
	if _, err := config.Load("many.yaml", []byte(many.String()), lookup); err != nil && strings.Contains(err.Error(), "keys") {
		t.Fatalf("many small mappings refused: %v", err)
	}
}

// BenchmarkLoadLargeMapping: the cost of a file with one large mapping, at
// a tenth of MaxMappingKeys and at the limit, block and flow: the block
// mapping's cost grows with the square of its keys (the parser's), which
// is why the limit is there.
func BenchmarkLoadLargeMapping(b *testing.B) {
	lookup := func(string) (string, bool) { return "", false }
	for _, n := range []int{config.MaxMappingKeys / 10, config.MaxMappingKeys} {
		for _, style := range []string{"block", "flow"} {
			data := fileWithHeaders(n, style)
			b.Run(fmt.Sprintf("%s-%d-keys", style, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := config.Load("b.yaml", data, lookup); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
