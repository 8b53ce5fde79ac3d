package builtin_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/tributary-dev/tributary/components/builtin"
	"github.com/tributary-dev/tributary/tributarytest"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/middleware"
)

const testSecret = "whsec_dHJpYnV0YXJ5LXdlYmhvb2tzLWV4YW1wbGUta2V5ISE="

// pipelineFile wraps a source and a sink entry (YAML, indented for a list
// item) into a one-pipeline file.
func pipelineFile(source, sink string) string {
	return "pipelines:\n  - name: p\n    sources:\n" + source + "    sinks:\n" + sink
}

const genSource = "      - { name: gen, type: generator }\n"

func webhookSinkYAML(opts string) string {
	return "      - name: hook\n        type: webhook\n        options:\n" + opts
}

func webhookInYAML(opts string) string {
	return "      - name: in\n        type: webhookin\n        options:\n" + opts
}

const logSink = "      - { name: out, type: log }\n"

func load(t *testing.T, yaml string, env map[string]string) (*config.Config, error) {
	t.Helper()
	return config.Load("test.yaml", []byte(yaml), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func TestWebhookOptionsValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file string
		want       []string // substrings of the error, in any order
	}{
		{"unknown key", pipelineFile(genSource, webhookSinkYAML("          uri: http://x\n")),
			[]string{`test.yaml:9:11: pipelines[0].sinks[0].options.uri: unknown key "uri"; did you mean "url"? allowed here:`, "allow_private_networks", "delivery_log"}},
		{"no url", pipelineFile(genSource, webhookSinkYAML("          method: POST\n")),
			[]string{"pipelines[0].sinks[0].options.url: is required"}},
		{"bad method and PUT without id", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n          method: DELETE\n")),
			[]string{`test.yaml:10:19: pipelines[0].sinks[0].options.method: "DELETE": want POST or PUT`}},
		{"PUT without id", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n          method: put\n")),
			[]string{"options.url: method PUT needs {id} in the URL"}},
		{"bad secret", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n          secrets: [not-a-secret]\n")),
			[]string{"options.secrets[0]: ", "whsec_<base64>"}},
		{"bad url", pipelineFile(genSource, webhookSinkYAML("          url: ftp://user:pw@x.example/hook\n")),
			[]string{"options.url: want an absolute http:// or https:// URL"}},
		{"bad preset", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n")+"        retry: { preset: weekly }\n"),
			[]string{"pipelines[0].sinks[0].retry.preset: ", "linear"}},
		{"negative nested key", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n          breaker:\n            failures: 2\n            cooldown: -1s\n")),
			[]string{"test.yaml:12:23: pipelines[0].sinks[0].options.breaker.cooldown: must not be negative"}},
		{"owned header", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n          headers: { Authorization: x }\n")),
			[]string{`header "Authorization" is set by the sink`}},
		{"basic auth without username", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n          basic_auth: { password: p }\n")),
			[]string{"options.basic_auth.username: is required"}},
		{"mistyped duration", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n          timeout: soon\n")),
			[]string{"options.timeout", "is not a duration"}},
		{"negative limits", pipelineFile(genSource, webhookSinkYAML("          url: https://x.example/hook\n          max_in_flight: -1\n")),
			[]string{"must not be negative"}},
		{"webhookin unauthenticated", pipelineFile(webhookInYAML("          listen: 127.0.0.1:0\n"), logSink),
			[]string{"pipelines[0].sources[0].options.allow_unauthenticated: no basic_auth, token or secrets: anyone could inject events", "set allow_unauthenticated: true"}},
		{"webhookin basic auth without password", pipelineFile(webhookInYAML("          basic_auth: { username: u }\n"), logSink),
			[]string{"test.yaml:7:25: pipelines[0].sources[0].options.basic_auth.password: is required"}},
		{"webhookin negative limits", pipelineFile(webhookInYAML("          token: t\n          ack_timeout: -1s\n          max_body_bytes: -1\n          body_timeout: -1s\n          max_concurrent_requests: -1\n          max_connections: -1\n"), logSink),
			[]string{"options.ack_timeout: -1s: must not be negative", "options.max_body_bytes: -1: must not be negative", "options.body_timeout: -1s: must not be negative",
				"options.max_concurrent_requests: -1: must not be negative", "options.max_connections: -1: must not be negative"}},
		{"webhookin open off loopback", pipelineFile(webhookInYAML("          listen: 0.0.0.0:8091\n          allow_unauthenticated: true\n"), logSink),
			[]string{"allow_unauthenticated only on a loopback address"}},
		{"webhookin bad listen and path", pipelineFile(webhookInYAML("          listen: nowhere\n          path: hooks\n          token: t\n"), logSink),
			[]string{`test.yaml:7:19: pipelines[0].sources[0].options.listen: "nowhere": want host:port`, `options.path: "hooks": want an absolute path`}},
		{"webhookin unknown key", pipelineFile(webhookInYAML("          port: 80\n"), logSink),
			[]string{`unknown key "port"`, "listen", "tolerance"}},
		{"webhookin bad secret", pipelineFile(webhookInYAML("          secrets: [whsec_%%%]\n"), logSink),
			[]string{"options.secrets[0]: ", "whsec_<base64>"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, c.file, nil)
			if err == nil {
				t.Fatalf("no error for\n%s", c.file)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// The file speaks YAML: no Go field names of the packages' configs.
			{
				for _, goName := range []string{"AllowUnauthenticated", "BasicAuth", "Secrets", "Token", "URL is", "webhookin:", "webhook:", "pw"} {
					if strings.Contains(err.Error(), goName) {
						t.Errorf("error %q names Go field %q, not a YAML key", err, goName)
					}
				}
			}
			if !strings.HasPrefix(err.Error(), "test.yaml:") {
				t.Errorf("error %q does not name the file and line", err)
			}
		})
	}
}

func TestWebhookSinkFromFile(t *testing.T) {
	t.Parallel()
	file := pipelineFile(genSource, webhookSinkYAML(`          url: https://receiver.example/events/{id}
          method: PUT
          secrets: ["${SECRET}"]
          token: ${TOKEN}
          basic_auth: { username: u, password: "${PASSWORD}" }
          headers: { X-Tenant: acme }
          timeout: 3s
          max_in_flight: 2
          rate_limit: 10.5
          rate_burst: 3
          breaker: { failures: 2, cooldown: 1s }
`)+`        retry: { preset: parakey }
      - name: plain
        type: webhook
        options: { url: "https://receiver.example/b", token: t }
        retry:
          preset: "1s,2s"
          in_process: { max_retries: 0 }
      - name: explicit
        type: webhook
        options: { url: "https://receiver.example/c", token: t }
        retry:
          schedule: { kind: list, delays: [3s] }
      - name: inherits
        type: webhook
        options: { url: "https://receiver.example/d", token: t }
`)
	cfg, err := load(t, file, map[string]string{"SECRET": testSecret, "TOKEN": "tok", "PASSWORD": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	pipes, err := cfg.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sinks := pipes[0].Sinks
	for _, s := range sinks {
		defer s.Publisher.Close()
		if _, ok := s.Publisher.(*builtin.WebhookSink); !ok {
			t.Fatalf("sink %s is %T", s.Name, s.Publisher)
		}
		if _, ok := s.Publisher.(components.Tester); !ok {
			t.Fatalf("sink %s is not a Tester", s.Name)
		}
	}
	// The preset is the router's schedule for the sink, its only one.
	if sinks[0].Retry == nil || !reflect.DeepEqual(sinks[0].Retry.Schedule, middleware.ParakeySchedule()) {
		t.Errorf("hook retry %+v, want the parakey schedule", sinks[0].Retry)
	}
	// A list, next to the sink's own in-process policy.
	if r := sinks[1].Retry; r == nil || !reflect.DeepEqual(r.Schedule, middleware.List(time.Second, 2*time.Second)) ||
		r.InProcess == nil || r.InProcess.MaxRetries != 0 {
		t.Errorf("plain retry %+v", r)
	}
	// A schedule written out.
	if r := sinks[2].Retry; r == nil || !reflect.DeepEqual(r.Schedule, middleware.List(3*time.Second)) {
		t.Errorf("explicit retry %+v, want its own list", r)
	}
	// No retry block: the pipeline's policy applies (no per-sink override).
	if sinks[3].Retry != nil {
		t.Errorf("inherits retry %+v, want nil", sinks[3].Retry)
	}
}

// receiver answers 2xx to the right token and 401 to anything else, or 200
// to everything when token is empty.
func receiver(t *testing.T, token string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("token") != token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWebhookSinkTest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		token    string // the receiver's
		ok       bool
		verdict  string
		nChecks  int
		failName string
	}{
		{"checks the token", "right", true, "verified", 3, ""},
		{"accepts everything", "", false, "not verified: request with wrong credentials was accepted (204)", 3, "wrong credentials → 401"},
		{"wrong configured token", "other", false, "not verified: request with the right credentials answered 401, want 2xx", 3, "right credentials → 2xx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := receiver(t, c.token)
			file := pipelineFile(genSource, webhookSinkYAML(fmt.Sprintf("          url: %s/hook\n          token: right\n          allow_private_networks: true\n", srv.URL)))
			cfg, err := load(t, file, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, i, err := cfg.FindSink("p", "hook")
			if err != nil {
				t.Fatal(err)
			}
			built, err := cfg.BuildSink(p, i, nil, watermill.NopLogger{})
			if err != nil {
				t.Fatal(err)
			}
			defer built.(interface{ Close() error }).Close()
			res, err := built.(components.Tester).Test(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			last := res.Checks[len(res.Checks)-1]
			if res.OK() != c.ok || len(res.Checks) != c.nChecks || last.Name != "verdict" || !strings.HasPrefix(last.Detail, c.verdict) {
				t.Fatalf("result %+v", res)
			}
			for _, ch := range res.Checks[:len(res.Checks)-1] {
				if ch.OK == (ch.Name == c.failName) {
					t.Errorf("check %+v", ch)
				}
			}
		})
	}
	t.Run("no credentials", func(t *testing.T) {
		t.Parallel()
		srv := receiver(t, "")
		file := pipelineFile(genSource, webhookSinkYAML(fmt.Sprintf("          url: %s/hook\n          allow_private_networks: true\n", srv.URL)))
		cfg, err := load(t, file, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, i, _ := cfg.FindSink("p", "hook")
		built, err := cfg.BuildSink(p, i, nil, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		res, _ := built.(components.Tester).Test(context.Background())
		if res.OK() || len(res.Checks) != 1 || !strings.Contains(res.Checks[0].Detail, "not verified: no credentials configured") {
			t.Fatalf("result %+v", res)
		}
	})
}

func TestWebhookSinkSSRFGuardOnByDefault(t *testing.T) {
	t.Parallel()
	srv := receiver(t, "")
	cfg, err := load(t, pipelineFile(genSource, webhookSinkYAML(fmt.Sprintf("          url: %s/hook\n", srv.URL))), nil)
	if err != nil {
		t.Fatal(err)
	}
	pipes, err := cfg.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := pipes[0].Sinks[0].Publisher
	defer pub.Close()
	err = pub.Publish("hook", tributary.NewEventMessage("e1", []byte(`{}`)))
	if err == nil || !middleware.IsPermanent(err) || !strings.Contains(err.Error(), "SSRF") {
		t.Fatalf("publish to loopback: %v, want a permanent SSRF refusal", err)
	}
}

func TestWebhookInServesWhileSubscribed(t *testing.T) {
	t.Parallel()
	src := buildWebhookIn(t, "          listen: 127.0.0.1:0\n          path: /in\n          token: ${TOKEN}\n          max_body_bytes: 64\n",
		map[string]string{"TOKEN": "sesame"})
	if src.Addr() != "" {
		t.Fatalf("listening before Start on %s", src.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := tributarytest.Subscribe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + src.Addr() + "/in"
	post := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong", `{"id":"x"}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if code := post("sesame", `{"id":"`+strings.Repeat("x", 100)+`"}`); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d, want 413", code)
	}
	done := make(chan int, 1)
	go func() { done <- post("sesame", `{"id":"evt-1","type":"door.unlocked"}`) }()
	m := next(t, ch)
	if tributary.EventID(m) != "evt-1" || m.Metadata.Get(tributary.MetaEventType) != "door.unlocked" || !bytes.Contains(m.Payload, []byte("evt-1")) {
		t.Fatalf("message %v %s", m.Metadata, m.Payload)
	}
	m.Ack()
	if code := <-done; code/100 != 2 {
		t.Fatalf("accepted event answered %d, want 2xx", code)
	}
	// Stopping the source stops the server.
	addr := src.Addr()
	cancel()
	for range ch {
	}
	waitClosed(t, addr)
}

func TestWebhookInStopStopsServer(t *testing.T) {
	t.Parallel()
	src := buildWebhookIn(t, "          listen: 127.0.0.1:0\n          allow_unauthenticated: true\n", nil)
	run, err := tributarytest.Start(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	ch := run.Messages
	addr := src.Addr()
	if c, err := net.Dial("tcp", addr); err != nil {
		t.Fatalf("not listening: %v", err)
	} else {
		c.Close()
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel open after the stop")
	}
	waitClosed(t, addr)
}

func waitClosed(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
