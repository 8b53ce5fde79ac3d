package config_test

import (
	"testing"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/routing"
)

// TestSinkFilterAndTransformFromFile: `filter:` and `transform:` compile into
// the sink's funcs, and the transform's headers reach the sink's build.
func TestSinkFilterAndTransformFromFile(t *testing.T) {
	t.Parallel()
	const file = `
pipelines:
  - name: doors
    sources:
      - name: gen
        type: generator
    sinks:
      - name: alarms
        type: http
        options: {url: "http://127.0.0.1:9/"}
        filter:
          types: ["door.alarm.*", "!door.alarm.*.cleared"]
          expr: payload.body.doorId > 0
        transform:
          body: '{"door": payload.body.door.name}'
          headers:
            X-Alarm: type
      - name: everything
        type: log
`
	cfg, err := config.Load("f.yaml", []byte(file), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines[0]
	alarms, all := p.Template.Sinks[0], p.Template.Sinks[1]
	if all.Filter != nil || all.Transform != nil || len(p.SinkHeaders[1]) != 0 {
		t.Fatal("a sink without filter or transform got one")
	}
	cases := []struct {
		typ, payload string
		want         bool
	}{
		{"door.alarm.forced", `{"body":{"doorId":1,"door":{"name":"Front"}}}`, true},
		{"door.alarm.forced.cleared", `{"body":{"doorId":1,"door":{"name":"Front"}}}`, false},
		{"door.alarm.forced", `{"body":{"doorId":0}}`, false},
		{"door.request.allowed", `{"body":{"doorId":1}}`, false},
	}
	for _, c := range cases {
		msg := tributary.NewEventMessage("e", []byte(c.payload))
		msg.Metadata.Set(tributary.MetaEventType, c.typ)
		ok, err := alarms.Filter(msg)
		if err != nil || ok != c.want {
			t.Errorf("%s %s: %v %v, want %v", c.typ, c.payload, ok, err, c.want)
		}
	}
	msg := tributary.NewEventMessage("e", []byte(`{"body":{"doorId":1,"door":{"name":"Front"}}}`))
	msg.Metadata.Set(tributary.MetaEventType, "door.alarm.forced")
	out, err := alarms.Transform(msg)
	if err != nil || string(out.Payload) != `{"door":"Front"}` || out.Metadata.Get(routing.HeaderKey("X-Alarm")) != "door.alarm.forced" {
		t.Fatalf("transform: %s %v %v", out.Payload, out.Metadata, err)
	}
	if got := p.SinkHeaders[0]["X-Alarm"]; got != routing.HeaderKey("X-Alarm") {
		t.Fatalf("sink headers %v", p.SinkHeaders[0])
	}
	if r := p.SinkRoutes[0]; len(r.Types) != 2 || r.Expr == "" || r.Body == "" || len(r.Headers) != 1 {
		t.Fatalf("route %+v", r)
	}
}

// TestRouteShowsFilterAsWritten: a filter whose expression takes a secret
// from ${ENV} filters with its value, but what the file says of it (the admin
// overview, `tributary route`) is the text as written.
func TestRouteShowsFilterAsWritten(t *testing.T) {
	t.Parallel()
	const file = `
pipelines:
  - name: doors
    sources:
      - name: gen
        type: generator
    sinks:
      - name: mine
        type: http
        options: {url: "http://127.0.0.1:9/"}
        filter:
          types: ["${KIND}.*"]
          expr: metadata["x-key"] == "${API_KEY}"
`
	env := map[string]string{"API_KEY": "key-SECRET-77", "KIND": "door"}
	cfg, err := config.Load("f.yaml", []byte(file), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Pipelines[0].SinkRoutes[0]
	if r.Expr != `metadata["x-key"] == "${API_KEY}"` || len(r.Types) != 1 || r.Types[0] != "${KIND}.*" {
		t.Fatalf("route shows %q %q", r.Types, r.Expr)
	}
	match := func(key string) bool {
		msg := tributary.NewEventMessage("e1", []byte(`{}`))
		msg.Metadata.Set(tributary.MetaEventType, "door.opened")
		msg.Metadata.Set("x-key", key)
		ok, err := cfg.Pipelines[0].Template.Sinks[0].Filter(msg)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !match("key-SECRET-77") || match("${API_KEY}") {
		t.Fatal("the filter does not use the interpolated value")
	}
}
