package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoute runs `tributary route` on examples/routing.yaml with one event
// of each seed shape: each goes exactly to the sinks meant for it, with the
// body and headers its transform builds.
func TestRoute(t *testing.T) {
	t.Parallel()
	const example = "../examples/routing.yaml"
	events := "../routing/testdata/events/"
	cases := []struct {
		event   string
		args    []string
		deliver map[string]string // sink → body
		headers map[string]string // "sink/header" → value
	}{
		{"eventlog.json", nil,
			map[string]string{"access": `{"at":"2026-03-01T12:00:01Z","door":"Main entrance","who":"Ada Lovelace"}`},
			map[string]string{"access/X-Door-Event": "door.unlocked"}},
		{"socketio.json", nil,
			map[string]string{"access": `{"at":"2023-05-03 19:04:55","door":"Postman Test","who":"Postman"}`},
			map[string]string{"access/X-Door-Event": "door.request.allowed"}},
		{"socketio-alarm.json", nil,
			map[string]string{"oncall": `{"severity":"critical","summary":"door.alarm.forced at Postman Test"}`},
			map[string]string{"oncall/X-Severity": "critical"}},
		{"socketio-alarm.json", []string{"--type", "door.alarm.forced.cleared"}, map[string]string{}, nil},
		{"batchfeed.json", nil,
			map[string]string{"crm": `{"kind":"ScreeningMatchResolutionTask","task":"Resolve Pre-Screening Matches","tenant":"bded51d4-598e-4079-9cf6-43e74144b415"}`},
			map[string]string{"crm/X-Correlation-Id": "7995c851-45f6-45d7-bdfd-189d395cb929"}},
		{"comment.json", nil,
			map[string]string{"comments-mirror": `{"_id":"cmt-5501","comment":"Filters per sink, finally.","commenterName":"Grace","date":"2020-09-26T10:00:00Z","tenantId":"t-1","urlId":"blog/routing","verified":true}`}, nil},
		{"comment.json", []string{"--type", "comment.deleted"},
			map[string]string{"comments-mirror": `{"_id":"cmt-5501"}`}, nil},
	}
	for _, c := range cases {
		args := append([]string{"--json", "route", "-c", example, "--event", events + c.event}, c.args...)
		code, out, errs := execute(t, nil, args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		var res struct {
			Sinks []routeResult `json:"sinks"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if len(res.Sinks) != 4 {
			t.Fatalf("%v: %d sinks in the answer", args, len(res.Sinks))
		}
		for _, r := range res.Sinks {
			var body bytes.Buffer
			if r.Body != nil {
				_ = json.Compact(&body, r.Body) // --json indents it
			}
			r.Body = body.Bytes()
			want, delivers := c.deliver[r.Sink]
			switch {
			case delivers && (r.Outcome != "deliver" || string(r.Body) != want):
				t.Errorf("%s %v: sink %s: %s %s, want deliver %s", c.event, c.args, r.Sink, r.Outcome, r.Body, want)
			case !delivers && r.Outcome != "filtered":
				t.Errorf("%s %v: sink %s: %s, want filtered", c.event, c.args, r.Sink, r.Outcome)
			}
			for h, v := range r.Headers {
				if c.headers[r.Sink+"/"+h] != v {
					t.Errorf("%s: sink %s header %s = %q, want %q", c.event, r.Sink, h, v, c.headers[r.Sink+"/"+h])
				}
			}
		}
	}
}

func TestRouteAndValidateReportExpressionProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `pipelines:
  - name: p
    sources: [{ name: gen, type: generator }]
    sinks:
      - name: out
        type: log
        filter:
          expr: payload.body.doorId == 1
`)
	bad := write("bad.yaml", `pipelines:
  - name: p
    sources: [{ name: gen, type: generator }]
    sinks:
      - name: out
        type: log
        filter:
          expr: payload.body.doorId == 1 &&
        transform:
          body: '{"a": evnt.type}'
`)
	noBody := write("ev.json", `{"id":"e1","type":"door.unlocked","door":{"name":"x"}}`)
	cases := []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"validate", "-c", bad}, ExitConfig, []string{"bad.yaml:8:43: pipelines[0].sinks[0].filter.expr: unexpected token EOF",
			"bad.yaml:10:24: pipelines[0].sinks[0].transform.body: unknown name evnt"}},
		{[]string{"route", "-c", bad, "--event", noBody}, ExitConfig, []string{"bad.yaml:8:43"}},
		{[]string{"route", "-c", good, "--event", noBody}, ExitCheckFailed, []string{"p / out: ERROR, would be poisoned: filter: expr: cannot fetch doorId from <nil> (at 1:14 of the expression)"}},
		{[]string{"route", "-c", good, "--event", filepath.Join(dir, "missing.json")}, ExitUsage, []string{"--event"}},
		{[]string{"route", "-c", good, "--event", noBody, "--pipeline", "q"}, ExitNotFound, []string{"no such"}},
		{[]string{"route", "-c", good, "--event", noBody, "--meta", "novalue"}, ExitUsage, []string{"key=value"}},
	}
	for _, c := range cases {
		code, out, errs := execute(t, nil, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, out, errs)
		}
		for _, want := range c.out {
			if !strings.Contains(out+errs, want) {
				t.Errorf("%v: output lacks %q:\n%s%s", c.args, want, out, errs)
			}
		}
	}
}

// TestRouteStdinAndWhy: `route --event -` reads the event from standard
// input, and a sink that turns it down says which part of its filter did.
func TestRouteStdinAndWhy(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	root := a.rootCommand()
	root.SetArgs([]string{"route", "-c", "../examples/routing.yaml", "--event", "-"})
	root.SetIn(strings.NewReader(`{"id":"e1","type":"door.input.changed","door":"east"}`))
	root.SetOut(&out)
	root.SetErr(&errb)
	if err := root.Execute(); err != nil {
		t.Fatalf("route --event -: %v\n%s", err, errb.String())
	}
	for _, want := range []string{
		"event e1, type door.input.changed",
		`doors / access: filtered out (types: type "door.input.changed" is excluded by !door.input.*)`,
		`doors / oncall: filtered out (types: type "door.input.changed" matches none of door.alarm.*, door.held_open)`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("route output lacks %q:\n%s", want, out.String())
		}
	}
	for _, c := range []struct {
		event string
		code  int
		want  string
	}{
		{"no-such-event.json", ExitUsage, "no such file"},
		{"-", ExitUsage, "empty"},
	} {
		code, _, errs := execute(t, nil, "route", "-c", "../examples/routing.yaml", "--event", c.event)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("--event %s: exit %d, %q; want %d with %q", c.event, code, errs, c.code, c.want)
		}
	}
}
