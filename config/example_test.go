package config_test

import (
	"fmt"

	"github.com/tributary-dev/tributary/config"
)

// Decode a pipeline file: ${NAME} is filled in from the lookup (os.LookupEnv
// in LoadFile), and the result is the Go API's router.Pipeline with the
// sources' and sinks' types and options, ready to build.
func ExampleLoad() {
	file := []byte(`pipelines:
  - name: doors
    sources:
      - { name: ticks, type: generator, options: { count: 3 } }
    retry:
      schedule: { kind: exponential, base: 5s, max: 1m, retries: 4 }
    sinks:
      - { name: crm, type: http, options: { url: "${CRM_URL}" } }
`)
	env := map[string]string{"CRM_URL": "https://crm.example.com/hooks"}
	cfg, err := config.Load("pipeline.yaml", file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range cfg.Pipelines {
		t := p.Template
		fmt.Printf("pipeline %s: %s (%s) → %s (%s)\n", t.Name, t.Sources[0].Name, p.SourceTypes[0].Type, t.Sinks[0].Name, p.SinkTypes[0].Type)
		fmt.Println("last retry after", t.Retry.Schedule.Total())
	}
	// Output:
	// pipeline doors: ticks (generator) → crm (http)
	// last retry after 1m15s
}

// Every problem in a file is reported at once, each with the file, line and
// column of the key and what is allowed.
func ExampleLoad_errors() {
	file := []byte(`pipelines:
  - name: doors
    sources:
      - { name: ticks, type: generatr }
    sinks:
      - { name: crm, type: http, options: { url: "https://crm.example.com/hooks", timeout: soon } }
`)
	_, err := config.Load("pipeline.yaml", file, nil)
	fmt.Println(err)
	// Output:
	// pipeline.yaml:4:30: pipelines[0].sources[0].type: unknown source type "generatr"; want one of "amqp", "batchfeed", "etagpoll", "generator", "natsjs", "redisstream", "socketio", "webhookin"
	// pipeline.yaml:6:92: pipelines[0].sinks[0].options.timeout: "soon" is not a duration; want a number with a unit (ns, us, ms, s, m, h), such as 500ms, 5s, 10m or 1h30m
}
