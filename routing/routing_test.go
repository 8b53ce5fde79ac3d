package routing_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/routing"
)

// seed returns a message as the source of that seed shape hands it on:
// payload from testdata/events, type as the source sets it.
func seed(t testing.TB, file, typ string) *message.Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", file))
	if err != nil {
		t.Fatal(err)
	}
	msg := tributary.NewEventMessage(strings.TrimSuffix(file, ".json"), b)
	msg.Metadata.Set(tributary.MetaEventType, typ)
	msg.Metadata.Set(tributary.MetaSource, "src")
	msg.Metadata.Set(tributary.MetaPipeline, "doors")
	return msg
}

func TestTypePatterns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{nil, "door.unlocked", true},
		{nil, "", true},
		{[]string{"door.*"}, "door.request.allowed", true},
		{[]string{"door.*"}, "door", false},
		{[]string{"door.*"}, "doorbell.rang", false},
		{[]string{"door.*"}, "", false},
		{[]string{"door.*", "!door.input.*"}, "door.input.dps.opened", false},
		{[]string{"door.*", "!door.input.*"}, "door.alarm.forced", true},
		{[]string{"!door.input.*"}, "command.result.succeed", true},
		{[]string{"!door.input.*"}, "", true},
		{[]string{"door.alarm.*.cleared"}, "door.alarm.forced.cleared", true},
		{[]string{"door.alarm.*.cleared"}, "door.alarm.forced", false},
		{[]string{"journey:*"}, "journey:taskcompleted", true},
		{[]string{"journey:task*"}, "journey:journeystarted", false},
		{[]string{"comment.updated"}, "comment.updated", true},
		{[]string{"comment.updated"}, "comment.updated.x", false},
		{[]string{"*.deleted"}, "comment.deleted", true},
		{[]string{"a*a"}, "a", false},
		{[]string{"a*a"}, "aa", true},
	}
	for _, c := range cases {
		tp, err := routing.CompileTypes(c.patterns...)
		if err != nil {
			t.Fatal(err)
		}
		if got := tp.MatchType(c.typ); got != c.want {
			t.Errorf("%q on %q = %v, want %v", c.patterns, c.typ, got, c.want)
		}
	}
	for _, bad := range [][]string{{""}, {"!"}, {" door.*"}, {"!!door"}} {
		if _, err := routing.CompileTypes(bad...); err == nil {
			t.Errorf("%q compiled; want an error", bad)
		}
	}
}

// TestFilterOnSeedShapes runs one filter per seed event shape on every seed
// event: each lets through exactly the events it names.
func TestFilterOnSeedShapes(t *testing.T) {
	t.Parallel()
	events := map[string]*message.Message{
		"eventlog": seed(t, "eventlog.json", "door.unlocked"),
		"allowed":  seed(t, "socketio.json", "door.request.allowed"),
		"alarm":    seed(t, "socketio-alarm.json", "door.alarm.forced"),
		"journey":  seed(t, "batchfeed.json", "journey:taskcompleted"),
		"comment":  seed(t, "comment.json", "comment.updated"),
		"untyped":  tributary.NewEventMessage("x", []byte(`{"id":"x"}`)),
		"not-json": tributary.NewEventMessage("y", []byte(`not json`)),
	}
	events["not-json"].Metadata.Set(tributary.MetaEventType, "door.unlocked")
	cases := []struct {
		name string
		spec routing.FilterSpec
		want []string // events that pass; the rest must not
		errs []string // events the filter cannot judge
	}{
		{"event log: main entrance by app", routing.FilterSpec{Types: []string{"door.*"}, Expr: `payload.door?.name == "Main entrance" && payload.accessMethod == "app"`},
			[]string{"eventlog"}, []string{"not-json"}},
		{"socket.io: doors but not alarms", routing.FilterSpec{Types: []string{"door.*", "!door.alarm.*"}, Expr: `payload.body?.doorId == 1`},
			[]string{"allowed"}, []string{"not-json"}},
		{"socket.io: alarms only (no payload)", routing.FilterSpec{Types: []string{"door.alarm.*"}},
			[]string{"alarm"}, nil},
		{"batch feed: screening tasks", routing.FilterSpec{Types: []string{"journey:*"}, Expr: `payload.payload.TaskType startsWith "Screening"`},
			[]string{"journey"}, nil},
		{"comments from verified commenters", routing.FilterSpec{Expr: `type startsWith "comment." && payload?.comment?.verified == true`},
			[]string{"comment"}, []string{"not-json"}},
		{"metadata only", routing.FilterSpec{Expr: `metadata.tributary_source == "src" && pipeline == "doors" && id != ""`},
			[]string{"eventlog", "allowed", "alarm", "journey", "comment"}, nil},
	}
	for _, c := range cases {
		f, err := routing.NewFilter(c.spec)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for name, msg := range events {
			ok, err := f.Match(msg)
			wantErr := contains(c.errs, name)
			if (err != nil) != wantErr {
				t.Errorf("%s on %s: err = %v, want error %v", c.name, name, err, wantErr)
			}
			if want := contains(c.want, name); ok != want {
				t.Errorf("%s on %s = %v, want %v", c.name, name, ok, want)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestTransformSeedShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		msg     *message.Message
		spec    routing.TransformSpec
		body    string
		headers map[string]string
	}{
		{"event log to access control", seed(t, "eventlog.json", "door.unlocked"),
			routing.TransformSpec{Body: `{"door": payload.door.id, "who": payload.user.name, "at": payload.timestamp}`, Headers: map[string]string{"X-Door": "payload.door.name"}},
			`{"at":"2026-03-01T12:00:01Z","door":"d-12","who":"Ada Lovelace"}`, map[string]string{"X-Door": "Main entrance"}},
		{"socket.io alarm to on-call", seed(t, "socketio-alarm.json", "door.alarm.forced"),
			routing.TransformSpec{Body: `{"summary": "Door " + payload.body.door.name + " forced open", "severity": "critical", "door_id": payload.body.doorId}`,
				Headers: map[string]string{"x-alarm": "type", "X-Door-Id": "payload.body.doorId"}},
			`{"door_id":1,"severity":"critical","summary":"Door Postman Test forced open"}`, map[string]string{"X-Alarm": "door.alarm.forced", "X-Door-Id": "1"}},
		{"batch feed to CRM", seed(t, "batchfeed.json", "journey:taskcompleted"),
			routing.TransformSpec{Body: `{"event": type, "task": payload.payload.TaskName, "tenant": payload.tenantId}`,
				Headers: map[string]string{"X-Correlation-Id": "payload.correlationId", "X-Missing": "payload.nothere"}},
			`{"event":"journey:taskcompleted","task":"Resolve Pre-Screening Matches","tenant":"bded51d4-598e-4079-9cf6-43e74144b415"}`,
			map[string]string{"X-Correlation-Id": "7995c851-45f6-45d7-bdfd-189d395cb929"}},
		{"comment: headers only, body kept", seed(t, "comment.json", "comment.updated"),
			routing.TransformSpec{Headers: map[string]string{"X-Comment-Verified": "payload.comment.verified"}},
			"", map[string]string{"X-Comment-Verified": "true"}},
	}
	for _, c := range cases {
		tr, err := routing.NewTransform(c.spec)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		orig := string(c.msg.Payload)
		out, err := tr.Apply(c.msg.Copy())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := c.body
		if want == "" {
			want = orig
		}
		if string(out.Payload) != want {
			t.Errorf("%s: body %s, want %s", c.name, out.Payload, want)
		}
		if string(c.msg.Payload) != orig {
			t.Errorf("%s: the original message changed", c.name)
		}
		mh := tr.MetadataHeaders()
		for h, key := range mh {
			if got, want := out.Metadata.Get(key), c.headers[h]; got != want {
				t.Errorf("%s: header %s = %q, want %q", c.name, h, got, want)
			}
		}
		for h := range c.headers {
			if _, ok := mh[h]; !ok {
				t.Errorf("%s: header %s is not among MetadataHeaders %v", c.name, h, mh)
			}
		}
	}
}

// TestBadExpressions: each kind of mistake is reported at compile time with
// the expression, a message that says what is wrong and its position.
func TestBadExpressions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		compile    func() error
		field      string
		line, col  int
		msgContain string
	}{
		{"syntax error", func() error { _, err := routing.NewFilter(routing.FilterSpec{Expr: `type == "door.x" &&`}); return err },
			"expr", 1, 19, "unexpected token EOF"},
		{"unknown field", func() error { _, err := routing.NewFilter(routing.FilterSpec{Expr: `tpye == "door.x"`}); return err },
			"expr", 1, 1, "unknown name tpye"},
		{"type error", func() error { _, err := routing.NewFilter(routing.FilterSpec{Expr: `type == 1`}); return err },
			"expr", 1, 6, "mismatched types string and int"},
		{"predicate not bool", func() error { _, err := routing.NewFilter(routing.FilterSpec{Expr: `type`}); return err },
			"expr", 0, 0, "expected bool"},
		{"second line", func() error {
			_, err := routing.NewTransform(routing.TransformSpec{Body: "{\n  \"a\": paylod.x\n}"})
			return err
		}, "body", 2, 8, "unknown name paylod"},
		{"header expression", func() error {
			_, err := routing.NewTransform(routing.TransformSpec{Headers: map[string]string{"X-A": `metadata.`}})
			return err
		}, "headers.X-A", 1, 0, ""},
		{"reserved header", func() error {
			_, err := routing.NewTransform(routing.TransformSpec{Headers: map[string]string{"content-type": `"text/plain"`}})
			return err
		}, "headers.content-type", 0, 0, "set by the sink"},
		{"empty", func() error {
			_, err := routing.NewTransform(routing.TransformSpec{Headers: map[string]string{"X-A": " "}})
			return err
		},
			"headers.X-A", 0, 0, "empty expression"},
	}
	for _, c := range cases {
		err := c.compile()
		var e *routing.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: error %v, want a *routing.Error", c.name, err)
			continue
		}
		if e.Field != c.field || (c.line != 0 && e.Line != c.line) || (c.col != 0 && e.Column != c.col) || !strings.Contains(e.Msg, c.msgContain) {
			t.Errorf("%s: got %s %d:%d %q; want %s %d:%d containing %q", c.name, e.Field, e.Line, e.Column, e.Msg, c.field, c.line, c.col, c.msgContain)
		}
	}
}

// TestRuntimeErrorOnOneEvent: an expression that fails on one event says
// why and where, and the next event is judged as usual.
func TestRuntimeErrorOnOneEvent(t *testing.T) {
	t.Parallel()
	f, err := routing.NewFilter(routing.FilterSpec{Expr: `payload.body.door.name == "Postman Test"`})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Match(seed(t, "eventlog.json", "door.unlocked")) // has no body
	if err == nil || !strings.Contains(err.Error(), "cannot fetch door from <nil>") || !strings.Contains(err.Error(), "1:14") {
		t.Fatalf("error %v; want the failed fetch and its position", err)
	}
	if ok, err := f.Match(seed(t, "socketio.json", "door.request.allowed")); !ok || err != nil {
		t.Fatalf("next event: %v %v; want a match", ok, err)
	}
	tr, err := routing.NewTransform(routing.TransformSpec{Body: `{"ratio": payload.body.doorId / payload.body.personId}`, Headers: map[string]string{"X-Door": "payload.body.door"}})
	if err != nil {
		t.Fatal(err)
	}
	msg := seed(t, "socketio.json", "door.request.allowed")
	_, err = tr.Apply(msg)
	if err == nil || !strings.Contains(err.Error(), "cannot be a header") {
		t.Fatalf("error %v; want a header value error", err)
	}
	var payload map[string]any
	if json.Unmarshal(msg.Payload, &payload) != nil || payload["topic"] != "door.request.allowed" {
		t.Fatalf("a failed transform changed the message: %s", msg.Payload)
	}
	zero := seed(t, "socketio.json", "door.request.allowed")
	zero.Payload = []byte(`{"body":{"doorId":1,"personId":0}}`)
	tr, _ = routing.NewTransform(routing.TransformSpec{Body: `{"ratio": payload.body.doorId / payload.body.personId}`})
	if _, err := tr.Apply(zero); err == nil || !strings.Contains(err.Error(), "JSON") {
		t.Fatalf("error %v; want +Inf refused as JSON", err)
	}
}

// TestFilterWhy: Why names the part of the filter that turns an event down,
// and is empty exactly when Match passes.
func TestFilterWhy(t *testing.T) {
	t.Parallel()
	f, err := routing.NewFilter(routing.FilterSpec{
		Types: []string{"door.*", "!door.input.*"},
		Expr:  `payload.door != "lobby"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		typ, payload, want string
	}{
		{"door.unlocked", `{"door":"east"}`, ""},
		{"alarm.raised", `{"door":"east"}`, `types: type "alarm.raised" matches none of door.*`},
		{"door.input.changed", `{"door":"east"}`, `types: type "door.input.changed" is excluded by !door.input.*`},
		{"", `{"door":"east"}`, "types: the event has no type, and types lists door.*"},
		{"door.unlocked", `{"door":"lobby"}`, `expr is false: payload.door != "lobby"`},
	}
	for _, c := range cases {
		msg := tributary.NewEventMessage("e1", []byte(c.payload))
		if c.typ != "" {
			msg.Metadata.Set(tributary.MetaEventType, c.typ)
		}
		why, err := f.Why(msg)
		ok, merr := f.Match(msg)
		if err != nil || merr != nil || why != c.want || ok != (why == "") {
			t.Errorf("%s %s: Why = %q, %v; Match = %v, %v; want %q", c.typ, c.payload, why, err, ok, merr, c.want)
		}
	}
}
