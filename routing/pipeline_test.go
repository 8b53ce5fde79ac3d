package routing_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/sigpeer"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/routing"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// idReceiver records the webhook-id (the event id) of every request.
type idReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	ids  []string
	reqs []*http.Request
	body map[string]string
}

func newIDReceiver(t *testing.T) *idReceiver {
	rc := &idReceiver{body: map[string]string{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
		rc.reqs = append(rc.reqs, r)
		rc.body[r.Header.Get("webhook-id")] = string(b)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *idReceiver) IDs() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.ids)
}

func webhookSink(t *testing.T, name, url string, cfg webhook.Config) router.Sink {
	t.Helper()
	cfg.URL, cfg.AllowPrivateNetworks = url, true
	p, err := webhook.NewPublisher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return router.Sink{Name: name, Publisher: p}
}

// shaped builds an event of a seed shape with the given type, as its source
// would hand it on.
func shaped(shape, typ string) *message.Message {
	id := "ev-" + strings.NewReplacer(".", "-", ":", "-").Replace(typ)
	var payload string
	switch shape {
	case "socketio": // seed 001: {id, topic, body, occurred}; the type is the Socket.IO event name
		payload = fmt.Sprintf(`{"id":%q,"topic":%q,"body":{"doorId":1,"door":{"id":1,"name":"Postman Test"}},"occurred":"2023-05-04 17:59:16"}`, id, typ)
	case "eventlog": // seed 000: the event log entry
		payload = fmt.Sprintf(`{"id":%q,"type":%q,"createdAt":"2026-03-01T12:00:04Z","door":{"id":"d-12","name":"Main entrance"}}`, id, typ)
	case "batchfeed": // seed 002: one notification of a batch
		inner := `{"TaskId":"91841917","TaskName":"Resolve Pre-Screening Matches","TaskType":"ScreeningMatchResolutionTask"}`
		if !strings.Contains(typ, ":task") {
			inner = `{"JourneyId":"165dcd7a"}`
		}
		payload = fmt.Sprintf(`{"id":%q,"eventType":%q,"tenantId":"t-1","payload":%s}`, id, typ, inner)
	}
	msg := tributary.NewEventMessage(id, []byte(payload))
	msg.Metadata.Set(tributary.MetaEventType, typ)
	return msg
}

// TestThreeSinksGetExactlyTheirEvents: every topic of the Socket.IO seed,
// the event log's types and the batch feed's types go through Postgres to
// three real webhook sinks with different filters; each receiver gets
// exactly the events its filter names, the rest are counted as filtered and
// nothing is poisoned.
func TestThreeSinksGetExactlyTheirEvents(t *testing.T) {
	t.Parallel()
	const (
		A = "access"
		O = "oncall"
		C = "crm"
	)
	table := []struct {
		shape, typ string
		want       []string
	}{
		{"socketio", "command.result.succeed", nil},
		{"socketio", "door.actuate.close", []string{A}},
		{"socketio", "door.actuate.dnd", []string{A}},
		{"socketio", "door.actuate.forcetoggle", []string{A}},
		{"socketio", "door.actuate.open", []string{A}},
		{"socketio", "door.alarm.forced", []string{O}},
		{"socketio", "door.alarm.forced.clear", nil},
		{"socketio", "door.alarm.forced.cleared", nil},
		{"socketio", "door.alarm.propped.off", nil},
		{"socketio", "door.alarm.propped.on", []string{O}},
		{"socketio", "door.forceclose.off", []string{A}},
		{"socketio", "door.forceclose.on", []string{A}},
		{"socketio", "door.input.dps.closed", nil},
		{"socketio", "door.input.dps.opened", nil},
		{"socketio", "door.input.relay.off", nil},
		{"socketio", "door.input.relay.on", nil},
		{"socketio", "door.input.rex.off", nil},
		{"socketio", "door.input.rex.on", nil},
		{"socketio", "door.request.allowed", []string{A}},
		{"socketio", "door.request.denied", []string{A}},
		{"socketio", "door.request.unknown", []string{A}},
		{"socketio", "door.try.dwellopen", []string{A}},
		{"socketio", "door.try.open", []string{A}},
		{"socketio", "endpoint.discover", nil},
		{"socketio", "endpoint.discovered", nil},
		{"socketio", "endpoint.querysignal", nil},
		{"socketio", "endpoint.signal", nil},
		{"eventlog", "door.unlocked", []string{A}},
		{"eventlog", "door.access_denied", []string{A, O}},
		{"eventlog", "door.held_open", []string{A, O}},
		{"batchfeed", "journey:taskcompleted", []string{C}},
		{"batchfeed", "journey:taskassigned", []string{C}},
		{"batchfeed", "journey:journeystarted", nil},
		{"batchfeed", "journey:journeycompleted", nil},
		{"batchfeed", "screening:matchesfound", nil},
		{"batchfeed", "screening:batchcompleted", nil},
		{"batchfeed", "document:documentuploaded", nil},
		{"batchfeed", "document:documentlinked", nil},
		{"batchfeed", "entitydata:entitycreated", []string{C}},
		{"batchfeed", "entitydata:entityupdated", []string{C}},
	}
	filters := map[string]routing.FilterSpec{
		A: {Types: []string{"door.*", "!door.input.*", "!door.alarm.*"}},
		O: {Types: []string{"door.alarm.*", "door.held_open", "door.access_denied"},
			Expr: `not (type endsWith ".cleared" || type endsWith ".clear" || type endsWith ".off")`},
		C: {Types: []string{"journey:*", "entitydata:*"}, Expr: `payload.payload?.TaskName != nil || type startsWith "entitydata:"`},
	}
	pool := pgtest.NewPool(t)
	receivers := map[string]*idReceiver{}
	var sinks []router.Sink
	for _, name := range []string{A, O, C} {
		f, err := routing.NewFilter(filters[name])
		if err != nil {
			t.Fatal(err)
		}
		receivers[name] = newIDReceiver(t)
		s := webhookSink(t, name, receivers[name].URL, webhook.Config{})
		s.Filter = f.Match
		sinks = append(sinks, s)
	}
	var msgs []*message.Message
	want := map[string][]string{}
	for _, row := range table {
		m := shaped(row.shape, row.typ)
		msgs = append(msgs, m)
		for _, s := range row.want {
			want[s] = append(want[s], tributary.EventID(m))
		}
	}
	reg := prometheus.NewRegistry()
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Metrics: reg}, router.Pipeline{
		Name:    "routed",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewListSource(msgs...)}},
		Sinks:   sinks,
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	filtered := func(s string) int {
		return int(pipelinetest.MetricValue(t, reg, "tributary_events_filtered_total", "pipeline", "routed", "sink", s))
	}
	pipelinetest.WaitFor(t, 30*time.Second, "every sink to deliver or filter every event", func() bool {
		for _, s := range []string{A, O, C} {
			if len(receivers[s].IDs())+filtered(s) < len(table) {
				return false
			}
		}
		return true
	})
	for _, s := range []string{A, O, C} {
		got := receivers[s].IDs()
		sort.Strings(got)
		sort.Strings(want[s])
		if !slices.Equal(got, want[s]) {
			t.Errorf("sink %s got %v\nwant %v", s, got, want[s])
		}
		if f := filtered(s); f != len(table)-len(want[s]) {
			t.Errorf("sink %s: filtered counter %d, want %d", s, f, len(table)-len(want[s]))
		}
	}
	if n, _ := router.NewPoisonQueue(pool).Count(context.Background(), router.PoisonFilter{Pipeline: "routed"}); n != 0 {
		t.Errorf("%d events poisoned; filtering must never fail an event", n)
	}
}

// TestTransformVerifiedAtTheReceiver: the body a transform builds is what the
// webhook sink signs, and the npm standardwebhooks library verifies it; the
// header the transform derives from the event arrives too. A Go transform
// on a second sink (the library path) works the same way.
func TestTransformVerifiedAtTheReceiver(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	peer := sigpeer.Serve(t, secret)
	goPeer := newIDReceiver(t)
	pool := pgtest.NewPool(t)

	tr, err := routing.NewTransform(routing.TransformSpec{
		Body:    `{"door": payload.body.door.name, "event": type, "at": payload.occurred}`,
		Headers: map[string]string{"X-Door-Id": "payload.body.doorId"},
	})
	if err != nil {
		t.Fatal(err)
	}
	shapedSink := webhookSink(t, "oncall", peer.URL, webhook.Config{Secrets: []string{secret}, MetadataHeaders: tr.MetadataHeaders()})
	shapedSink.Transform = tr.Apply
	goSink := webhookSink(t, "crm", goPeer.URL, webhook.Config{})
	goSink.Transform = func(m *message.Message) (*message.Message, error) {
		m.Payload = []byte(`{"shaped_in_go":"` + m.Metadata.Get(tributary.MetaEventType) + `"}`)
		return m, nil
	}
	alarm := shaped("socketio", "door.alarm.forced")
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "shaped",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewListSource(alarm)}},
		Sinks:   []router.Sink{shapedSink, goSink},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 30*time.Second, "both receivers to get the event", func() bool {
		return len(peer.Log(t)) > 0 && len(goPeer.IDs()) > 0
	})
	e := peer.Log(t)[0]
	if !e.OK {
		t.Fatalf("standardwebhooks rejected the transformed body: %s", e.Error)
	}
	if want := `{"at":"2023-05-04 17:59:16","door":"Postman Test","event":"door.alarm.forced"}`; e.Body != want {
		t.Fatalf("receiver got body %s, want %s", e.Body, want)
	}
	if e.Headers["x-door-id"] != "1" || e.ID != tributary.EventID(alarm) {
		t.Fatalf("receiver got x-door-id %q and webhook-id %q", e.Headers["x-door-id"], e.ID)
	}
	goPeer.mu.Lock()
	defer goPeer.mu.Unlock()
	if got := goPeer.body[tributary.EventID(alarm)]; got != `{"shaped_in_go":"door.alarm.forced"}` {
		t.Fatalf("Go transform: receiver got %s", got)
	}
}

// TestRoutingErrorsPoisonOneEventOnly: a filter expression that fails at run
// time on one event, a transform that fails on one, a Go filter that panics
// on one: each of these events is poisoned for its sink with a clear reason;
// every other event is delivered and the router keeps running.
func TestRoutingErrorsPoisonOneEventOnly(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	good1, good2 := shaped("socketio", "door.request.allowed"), shaped("socketio", "door.alarm.forced")
	bad := shaped("eventlog", "door.unlocked") // no body: payload.body.doorId fails
	notJSON := tributary.NewEventMessage("not-json", []byte("<xml/>"))
	notJSON.Metadata.Set(tributary.MetaEventType, "door.unlocked")

	f, err := routing.NewFilter(routing.FilterSpec{Expr: `payload.body.door.id == 1`})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := routing.NewTransform(routing.TransformSpec{Body: `{"door": payload.body.door.name + "!"}`})
	if err != nil {
		t.Fatal(err)
	}
	exprFilter, exprTransform, goFilter := pipelinetest.NewSink(nil), pipelinetest.NewSink(nil), pipelinetest.NewSink(nil)
	sinks := []router.Sink{
		{Name: "expr-filter", Publisher: exprFilter, Filter: f.Match},
		{Name: "expr-transform", Publisher: exprTransform, Transform: tr.Apply},
		{Name: "go-filter", Publisher: goFilter, Filter: func(m *message.Message) (bool, error) {
			if tributary.EventID(m) == "not-json" {
				var nilMap map[string]int
				nilMap["boom"]++ // a bug in a user's filter
			}
			return true, nil
		}},
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "badexpr",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewListSource(good1, bad, notJSON, good2)}},
		Sinks:   sinks,
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	q := router.NewPoisonQueue(pool)
	pipelinetest.WaitFor(t, 30*time.Second, "the good events delivered and the bad ones poisoned", func() bool {
		n, _ := q.Count(context.Background(), router.PoisonFilter{Pipeline: "badexpr"})
		return n == 5 && exprFilter.Distinct() == 2 && exprTransform.Distinct() == 2 && goFilter.Distinct() == 3
	})
	recs, err := q.List(context.Background(), router.PoisonFilter{Pipeline: "badexpr"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, rec := range recs {
		got[rec.Sink+"/"+rec.EventID] = rec.Reason
		if rec.Attempts != 1 {
			t.Errorf("%s/%s poisoned after %d attempts; a routing error is permanent", rec.Sink, rec.EventID, rec.Attempts)
		}
	}
	want := map[string]string{
		"expr-filter/" + tributary.EventID(bad):    "filter: expr: cannot fetch door from <nil> (at 1:14 of the expression)",
		"expr-filter/not-json":                     "filter: payload is not JSON",
		"expr-transform/" + tributary.EventID(bad): "transform: body: cannot fetch door from <nil> (at 1:23 of the expression)",
		"expr-transform/not-json":                  "transform: payload is not JSON",
		"go-filter/not-json":                       "filter: panic: assignment to entry in nil map",
	}
	for k, prefix := range want {
		if !strings.HasPrefix(got[k], prefix) {
			t.Errorf("poison %s: reason %q, want %q…", k, got[k], prefix)
		}
	}
	if len(got) != len(want) {
		t.Errorf("poisoned %v, want exactly %v", got, want)
	}
	for _, m := range exprTransform.Messages() {
		if !strings.HasPrefix(string(m.Payload), `{"door":"Postman Test!"}`) {
			t.Errorf("transformed body %s", m.Payload)
		}
	}
}
