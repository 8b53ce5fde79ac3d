package config_test

import (
	"strings"
	"testing"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/router"
)

func orderedFile(sink string) string {
	return `
pipelines:
  - name: doors
    sources:
      - name: gen
        type: generator
    sinks:
      - name: crm
        type: log
` + sink
}

// TestSinkOrderByFromFile: order_by compiles into the sink's OrderKey, with
// lanes and on_failure; each mistake is reported at its key.
func TestSinkOrderByFromFile(t *testing.T) {
	t.Parallel()
	env := func(string) (string, bool) { return "", false }
	cfg, err := config.Load("f.yaml", []byte(orderedFile(`        order_by: payload.doorId
        lanes: 32
        on_failure: requeue
`)), env)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Pipelines[0].Template.Sinks[0]
	if s.OrderKey == nil || s.Lanes != 32 || s.OnFailure != router.Requeue {
		t.Fatalf("sink %+v", s)
	}
	if k, err := s.OrderKey(tributary.NewEventMessage("e", []byte(`{"doorId":7}`))); k != "7" || err != nil {
		t.Fatalf("key %q %v", k, err)
	}
	bad := []struct{ name, sink, want string }{
		{"lanes without order_by", "        lanes: 4\n", "sinks[0]: lanes and on_failure need order_by"},
		{"bad expression", "        order_by: payload.(\n", "sinks[0].order_by"},
		{"bad policy", "        order_by: payload.a\n        on_failure: drop\n", `on_failure: "drop"`},
		{"bad lanes", "        order_by: payload.a\n        lanes: -1\n", "lanes: -1"},
		{"jetstream", "        order_by: payload.a\nbackend: {type: jetstream, url: 'nats://127.0.0.1:4222'}\n", "need the postgres backend"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load("f.yaml", []byte(orderedFile(tt.sink)), env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestSinkConcurrencyFromFile: a file sets a sink's Concurrency (the binary
// delivered one event at a time before it could); unset, it stays 0 (one at
// a time, in topic order).
func TestSinkConcurrencyFromFile(t *testing.T) {
	t.Parallel()
	env := func(string) (string, bool) { return "", false }
	for _, c := range []struct {
		sink string
		want int
	}{{"", 0}, {"        concurrency: 16\n", 16}} {
		cfg, err := config.Load("f.yaml", []byte(orderedFile(c.sink)), env)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Pipelines[0].Template.Sinks[0].Concurrency; got != c.want {
			t.Errorf("%q: concurrency %d, want %d", c.sink, got, c.want)
		}
	}
}
