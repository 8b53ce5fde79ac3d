package builtin_test

import (
	"os"
	"strings"
	"testing"
)

// TestSubscriptionsSinkOptions: the subscriptions sink decodes from a
// pipeline file strictly, and its errors name the key and line.
func TestSubscriptionsSinkOptions(t *testing.T) {
	t.Parallel()
	sink := func(opts string) string {
		return "      - name: hooks\n        type: subscriptions\n        options:\n" + opts
	}
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"ok", pipelineFile(genSource, sink("          tenant_key: tenantId\n          retry: standard\n          max_in_flight: 2\n")), nil},
		{"bad retry", pipelineFile(genSource, sink("          retry: sometimes\n")), []string{"pipelines[0].sinks[0].options.retry", "sometimes"}},
		{"unknown key", pipelineFile(genSource, sink("          url: http://x\n")), []string{`options.url: unknown key "url"`, "tenant_key"}},
		{"lease too short", pipelineFile(genSource, sink("          timeout: 10s\n          lease: 5s\n")), []string{"options.lease", "longer than timeout"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.file, nil)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestSubscriptionsExampleLoads: examples/subscriptions.yaml is a valid file.
func TestSubscriptionsExampleLoads(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../examples/subscriptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, string(data), nil); err != nil {
		t.Fatal(err)
	}
}
