package builtin_test

import (
	"context"
	"encoding/json"
	"github.com/tributary-dev/tributary/components/builtin"
	"github.com/tributary-dev/tributary/tributarytest"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/simulate"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// renewals reads tributary_socketio_token_renewals_total{source, reason} from g.
func renewals(t *testing.T, g prometheus.Gatherer, source, reason string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tributary_socketio_token_renewals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == source && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func loadYAML(t *testing.T, yaml string, env map[string]string) (*config.Config, error) {
	t.Helper()
	return config.Load("p.yaml", []byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// TestSocketIOFileDecodesIntoConfig: every key of both types lands in the
// library's Config (the file decodes into it), with ${ENV} secrets.
func TestSocketIOFileDecodesIntoConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadYAML(t, `pipelines:
  - name: panel
    sources:
      - name: doors
        type: socketio
        options:
          url: wss://panel-1.example.test
          namespace: /events
          topics: ["door.*", liveEvent]
          token: { url: "https://auth.example.test/token", field: access_token, headers: { X-Api-Key: "${API_KEY}" }, timeout: 3s }
          headers: { X-Panel: "1" }
          backoff: { initial: 100ms, max: 5s, jitter: 0.5 }
          max_frame_bytes: 65536
          open_timeout: 2s
          max_in_flight: 4
          max_pending: 100
          nack_delay: 50ms
    sinks:
      - name: commands
        type: socketcommand
        options:
          url: ws://127.0.0.1:9
          token: { command: [/usr/local/bin/panel-token, --panel, "1"] }
          timeout: 3s
`, map[string]string{"API_KEY": "k-123"})
	if err != nil {
		t.Fatal(err)
	}
	src := cfg.Pipelines[0].SourceTypes[0].Options().(*socketio.Config)
	if src.Socket.URL != "wss://panel-1.example.test" || src.Socket.Namespace != "/events" ||
		strings.Join(src.Topics, ",") != "door.*,liveEvent" || src.Socket.Token.URL != "https://auth.example.test/token" ||
		src.Socket.Token.Field != "access_token" || src.Socket.Token.Headers["X-Api-Key"] != "k-123" ||
		src.Socket.Token.Timeout != 3*time.Second || src.Socket.Headers["X-Panel"] != "1" ||
		src.Socket.Backoff != (client.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.5}) ||
		src.Socket.MaxFrameBytes != 65536 || src.Socket.OpenTimeout != 2*time.Second ||
		src.MaxInFlight != 4 || src.MaxPending != 100 || src.NackDelay != 50*time.Millisecond {
		t.Fatalf("source config %+v", src)
	}
	sink := cfg.Pipelines[0].SinkTypes[0].Options().(*builtin.SocketCommandConfig)
	if strings.Join(sink.Socket.Token.Command, " ") != "/usr/local/bin/panel-token --panel 1" || sink.Timeout != 3*time.Second || sink.Socket.URL != "ws://127.0.0.1:9" {
		t.Fatalf("sink config %+v", sink)
	}
}

// TestSocketIOOptionsValidation: bad options give messages that name the
// file, line, key and what is allowed, and never quote a token.
func TestSocketIOOptionsValidation(t *testing.T) {
	t.Parallel()
	const head = "pipelines:\n  - name: p\n    sources:\n      - name: s\n        type: socketio\n        options:\n"
	const tail = "    sinks: [{ name: out, type: log }]\n"
	cases := []struct {
		name, options string
		want          []string
	}{
		{"no url", "          topics: [door.*]\n",
			[]string{`p.yaml:7:11: pipelines[0].sources[0].options.url: required`}},
		{"unknown key", "          url: ws://x\n          topic: door.*\n",
			[]string{`p.yaml:8:11: pipelines[0].sources[0].options.topic: unknown key "topic"; did you mean "topics"? allowed here:`, "topics", "token_param"}},
		{"bad scheme and mode", "          url: ftp://x/?token=SECRET1\n          mode: rest\n",
			[]string{`options.url: scheme "ftp": want ws, wss, http or https`, `options.mode: "rest": want socketio or json`}},
		{"two tokens", "          url: ws://x\n          token: { static: SECRET2, url: \"http://t/\" }\n",
			[]string{"options.token.static: set only one of static, command and url"}},
		{"bad durations", "          url: ws://x\n          backoff: { initial: 10s, max: 1s, jitter: 3 }\n          nack_delay: 1 second\n",
			[]string{`options.nack_delay: "1 second" is not a duration`}},
		{"backoff", "          url: ws://x\n          backoff: { initial: 10s, max: 1s, jitter: 3 }\n",
			[]string{"options.backoff.max: 1s must not be below backoff.initial (10s)", "options.backoff.jitter: 3: want a fraction from 0 to 1"}},
		{"limits", "          url: ws://x\n          max_in_flight: 5\n          max_pending: 2\n          topics: [\"door.*.on\"]\n",
			[]string{"options.max_in_flight: 5 must not exceed max_pending (2)", `options.topics[0]: "door.*.on": want an event name, a prefix ending in * (door.*) or *`}},
		{"namespace", "          url: ws://x\n          namespace: events\n",
			[]string{`options.namespace: "events": want /name without ',' or '?'`}},
		{"wrong type", "          url: ws://x\n          token: { command: /bin/tok }\n",
			[]string{"options.token.command"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, head+c.options+tail, nil)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
				if testing.Verbose() && w == c.want[0] {
					t.Log(err)
				}
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error quotes a token: %v", err)
			}
		})
	}
	// The sink refuses json mode (commands need Socket.IO framing) and a missing url.
	_, err := loadYAML(t, "pipelines:\n  - name: p\n    sources: [{ name: g, type: generator }]\n    sinks:\n      - name: c\n        type: socketcommand\n        options: { mode: json, timeout: -1s }\n", nil)
	for _, w := range []string{`pipelines[0].sinks[0].options.url: required`, `options.mode: "json": commands need Socket.IO framing`, "options.timeout: must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("sink error lacks %q: %v", w, err)
		}
	}
}

// TestSocketIOTypesAgainstSimulator builds both types from a pipeline file
// and runs them against the Socket.IO simulator: the source receives door
// events and keeps receiving across token rotations (renewing through the
// token URL), and the sink's command is confirmed by the panel.
func TestSocketIOTypesAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the simulator")
	}
	t.Parallel()
	sim := simulate.NewSocketIO(simulate.SocketIOConfig{Interval: 10 * time.Millisecond, Seed: 7, RotateEvery: 5})
	mux := http.NewServeMux()
	sim.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cfg, err := loadYAML(t, `pipelines:
  - name: panel
    sources:
      - name: doors
        type: socketio
        options:
          url: ${SIM}
          topics: ["door.request.*", "door.input.*"]
          token: { url: "${SIM}/socketio/token" }
          backoff: { initial: 20ms, max: 200ms }
    sinks:
      - name: commands
        type: socketcommand
        options:
          url: ${SIM}
          token: { url: "${SIM}/socketio/token" }
          timeout: 5s
`, map[string]string{"SIM": srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines[0]
	env := components.Env{Pipeline: "panel", Name: "doors", Type: "socketio"}
	sub, err := components.BuildSource(p.SourceTypes[0], env)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sub.(*tributary.SubscriberSource).Instrument(reg, "panel", "doors")
	run, err := tributarytest.Start(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	ch := run.Messages
	go sim.Run(ctx)

	ids := map[string]bool{}
	for len(ids) < 20 { // 20 kept events span several rotations (every 5 events)
		m := next(t, ch)
		typ := m.Metadata.Get(tributary.MetaEventType)
		if !strings.HasPrefix(typ, "door.request.") && !strings.HasPrefix(typ, "door.input.") {
			t.Fatalf("topic filter let %q through", typ)
		}
		var ev struct {
			Topic string `json:"topic"`
			Body  struct {
				DoorID int `json:"doorId"`
			} `json:"body"`
		}
		if err := json.Unmarshal(m.Payload, &ev); err != nil || ev.Topic != typ || ev.Body.DoorID == 0 {
			t.Fatalf("payload %s (%v)", m.Payload, err)
		}
		ids[tributary.EventID(m)] = true
		m.Ack()
	}
	if st := sub.(*tributary.SubscriberSource).Current().(*socketio.Subscriber).Status(); st.Connects < 1 {
		t.Fatalf("status %+v", st)
	}
	if dials := sim.Server().DialTokens(); len(dials) == 0 || dials[0] == "" || dials[0] == sim.Token() {
		t.Fatalf("%d dials; the token never rotated under the client", len(dials))
	}
	if n := renewals(t, reg, "doors", "invalid_token"); n < 1 {
		t.Fatalf("%v renewals on invalidToken, want at least one", n)
	}

	pub, err := components.BuildSink(p.SinkTypes[0], components.Env{Pipeline: "panel", Name: "commands", Type: "socketcommand"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	cmd := message.NewMessage("cmd-1", []byte(`{"topic":"door.try.open","body":{"doorId":2}}`))
	if err := pub.Publish("commands", cmd); err != nil {
		t.Fatalf("command: %v", err)
	}
	got := sim.Server().Commands()
	if len(got) != 1 || got[0].Topic != "door.try.open" || got[0].ID == "" {
		t.Fatalf("panel got commands %+v", got)
	}
	bad := message.NewMessage("cmd-2", []byte(`{"topic":"door.try.open","body":{"door":2}}`))
	if err := pub.Publish("commands", bad); !middleware.IsPermanent(err) {
		t.Fatalf("invalid command: %v, want a permanent error", err)
	}
}
