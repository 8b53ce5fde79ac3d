package routing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/routing"
)

// doubling is an expression that doubles a string n times (2^n × its
// length): unbounded, it takes all the memory there is.
func doubling(op string, n int) string {
	var b strings.Builder
	b.WriteString("let s0 = payload.s;\n")
	for i := 1; i <= n; i++ {
		twice := fmt.Sprintf("s%d + s%d", i-1, i-1)
		if op != "+" {
			twice = op + "(" + twice + ")"
		}
		fmt.Fprintf(&b, "let s%d = %s;\n", i, twice)
	}
	fmt.Fprintf(&b, "len(s%d) > 0", n)
	return b.String()
}

func boundEvent(t testing.TB) *message.Message {
	t.Helper()
	payload, _ := json.Marshal(map[string]string{"s": "abcdefgh", "big": strings.Repeat("y", 1<<20)})
	msg := tributary.NewEventMessage("bound-1", payload)
	msg.Metadata.Set(tributary.MetaEventType, "door.opened")
	return msg
}

// TestExpressionsAreBounded: expressions that would build strings of
// gigabytes (string +, upper, lower, replace, join, toJSON, string, repeat)
// or loop over a megabyte a million times fail with the bound as their
// reason, on this event only; modest ones still run. (Unbounded, the first
// took 2.7 GB and 8.6 s and one more doubling ended the process.)
func TestExpressionsAreBounded(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, expr string }{
		{"string +", doubling("+", 40)},
		{"upper", `len(upper(upper(upper(payload.big)))) > 0`},
		{"lower", `len(lower(lower(lower(payload.big)))) > 0`},
		{"replace", `len(replace(replace(payload.big, "", payload.s), "", payload.s)) > 0`},
		{"join", `len(join(map(1..1000, payload.big), "")) > 0`},
		{"toJSON", `len(toJSON(map(1..1000, payload.big))) > 0`},
		{"string", `len(string(map(1..1000, payload.big))) > 0`},
		{"repeat", `len(repeat(payload.big, 100000)) > 0`},
		{"split", `len(split(payload.big + payload.big, "")) > 0`},
		{"time", `all(1..999, all(1..999, not (payload.big contains "zz")))`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := routing.NewFilter(routing.FilterSpec{Expr: tt.expr})
			if err != nil {
				t.Fatal(err)
			}
			ok, err := f.Match(boundEvent(t))
			if err == nil || ok {
				t.Fatalf("%v %v; want the evaluation stopped", ok, err)
			}
			if !strings.Contains(err.Error(), "over its bound") && !strings.Contains(err.Error(), "memory budget exceeded") {
				t.Fatalf("error %v; want the bound named", err)
			}
		})
	}
	for _, expr := range []string{doubling("+", 10), doubling("upper", 8), `upper(payload.s + "x") == "ABCDEFGHX"`,
		`len(join(map(1..3, payload.s), "-")) == 26`, `toJSON({"a": payload.s}) contains "abc"`, `string(1 + 2) == "3"`,
		`1 + 2 == 3 && 0.5 + 1 == 1.5`, `all(1..100, # + 1 > 1)`, `len(split(payload.s, "")) == 8`, `replace(payload.s, "a", "z") startsWith "z"`,
		`filter(["a", "bb"], len(#) > 1)[0] == "bb"`, `(id + "-x") endsWith "-x"`} {
		f, err := routing.NewFilter(routing.FilterSpec{Expr: expr})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if ok, err := f.Match(boundEvent(t)); !ok || err != nil {
			t.Errorf("%s: %v %v; want a match", expr, ok, err)
		}
	}
}

// TestBoundPoisonsOneEventForOneSink: an event whose expression goes over
// its bound is poisoned for that sink only; the same event reaches the other
// sink, and the next event passes the same filter.
func TestBoundPoisonsOneEventForOneSink(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	huge := boundEvent(t)
	small := tributary.NewEventMessage("bound-2", []byte(`{"s":"ab","big":"y"}`))
	small.Metadata.Set(tributary.MetaEventType, "door.opened")
	f, err := routing.NewFilter(routing.FilterSpec{Expr: `len(repeat(payload.big, 100000)) > 0`})
	if err != nil {
		t.Fatal(err)
	}
	bounded, other := pipelinetest.NewSink(nil), pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "bounded",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewListSource(huge, small)}},
		Sinks:   []router.Sink{{Name: "bounded", Publisher: bounded, Filter: f.Match}, {Name: "other", Publisher: other}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	q := router.NewPoisonQueue(pool)
	pipelinetest.WaitFor(t, 30*time.Second, "bound-1 poisoned for bounded only", func() bool {
		n, _ := q.Count(context.Background(), router.PoisonFilter{Pipeline: "bounded"})
		return n == 1 && bounded.Distinct() == 1 && other.Distinct() == 2
	})
	recs, err := q.List(context.Background(), router.PoisonFilter{Pipeline: "bounded"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Sink != "bounded" || recs[0].EventID != "bound-1" || !strings.Contains(recs[0].Reason, "budget") && !strings.Contains(recs[0].Reason, "bound") {
		t.Fatalf("poisoned %+v; want bound-1 for sink bounded, for its bound", recs)
	}
}
