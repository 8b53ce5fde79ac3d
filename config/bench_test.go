package config_test

import (
	"os"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/tributary-dev/tributary/config"
)

// BenchmarkLoad measures the strict decode (parse, interpolate, shape check,
// decode, semantic checks, options) of the quickstart file; the baseline is
// goccy's plain Unmarshal of the same bytes into an untyped map.
func BenchmarkLoad(b *testing.B) {
	data, err := os.ReadFile("../examples/quickstart.yaml")
	if err != nil {
		b.Fatal(err)
	}
	lookup := func(string) (string, bool) { return "", false }
	b.Run("strict", func(b *testing.B) {
		for b.Loop() {
			if _, err := config.Load("q.yaml", data, lookup); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-unmarshal-any", func(b *testing.B) {
		for b.Loop() {
			var v map[string]any
			if err := yaml.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
