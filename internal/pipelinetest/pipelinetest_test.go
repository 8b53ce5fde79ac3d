package pipelinetest

import (
	"context"
	"errors"
	"github.com/tributary-dev/tributary/tributarytest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// A nacked message comes again; the next is handed on only after an ack.
func TestListSourceRedeliversUntilAcked(t *testing.T) {
	t.Parallel()
	src := NewEventSource("a", "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := tributarytest.Subscribe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ack := range []bool{false, true, true} {
		select {
		case m := <-ch:
			got = append(got, tributary.EventID(m))
			if ack {
				m.Ack()
			} else {
				m.Nack()
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nothing after %v", got)
		}
	}
	if strings.Join(got, ",") != "a,a,b" {
		t.Fatalf("delivered %v, want a (nacked), a, b", got)
	}
	WaitFor(t, 5*time.Second, "two acks counted", func() bool { return src.Acked() == 2 })
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("message after the list ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after the stop")
	}
}

func TestSinkRecordsOnlySuccesses(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	s := NewSink(func(m *message.Message) error {
		if tributary.EventID(m) == "bad" {
			return boom
		}
		return nil
	})
	for _, id := range []string{"a", "bad", "a", "b"} {
		err := s.Publish("t", tributary.NewEventMessage(id, nil))
		if (id == "bad") != errors.Is(err, boom) {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	if s.Count("a") != 2 || s.Count("bad") != 0 || s.Distinct() != 2 || s.Len() != 3 ||
		strings.Join(s.Order(), ",") != "a,a,b" || len(s.Messages()) != 3 || s.Metadata("b").Get(tributary.MetaEventID) != "b" {
		t.Fatalf("counts %v order %v", s.Counts(), s.Order())
	}
}

func TestLoggerSharesLinesWithChildren(t *testing.T) {
	t.Parallel()
	l := &Logger{}
	child := l.With(watermill.LogFields{"source": "s1"})
	child.Error("poll failed", errors.New("timeout"), watermill.LogFields{"kind": "timeout"})
	l.Info("hello", nil)
	errs := l.Lines("ERROR")
	if len(errs) != 1 || !strings.Contains(errs[0], "source:s1") || !strings.Contains(errs[0], "kind:timeout") || !strings.Contains(errs[0], "err=timeout") {
		t.Fatalf("error lines %q", errs)
	}
	if len(l.Lines("INFO")) != 1 || !strings.Contains(l.String(), "WITH map[source:s1]") {
		t.Fatalf("log %q", l.String())
	}
}

func TestDuplicateKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line    string
		want    []string
		problem string
	}{
		{`{"msg":"a","source":"x","n":1}`, nil, ""},
		{`{"msg":"a","source":"x","source":"x"}`, []string{"source"}, "key source more than once"},
		{`{"msg":"a","g":{"k":1,"k":2},"k":3}`, []string{"g.k"}, "key g.k more than once"},
		{`{"msg":"a","l":[{"k":1},{"k":2}]}`, nil, ""},
		{`{"msg":"Delivery given up","error":null}`, nil, `"error" is null`},
		{`{"msg":"a","error":"boom"}`, nil, ""},
		{`[1]`, nil, "not a JSON object"},
		{`{"a":1}{"b":2}`, nil, "not a JSON object"},
	}
	for _, tt := range tests {
		got, _ := DuplicateKeys([]byte(tt.line))
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("DuplicateKeys(%s) = %v, want %v", tt.line, got, tt.want)
		}
		if p := LineProblem(tt.line); !strings.HasPrefix(p, tt.problem) || (tt.problem == "") != (p == "") {
			t.Errorf("LineProblem(%s) = %q, want %q", tt.line, p, tt.problem)
		}
	}
	// Through the real adapter: With and the call's fields both add a key.
	logger, log := NewJSONLogger()
	logger.With(watermill.LogFields{"source": "x"}).Info("twice", watermill.LogFields{"source": "x"})
	if lines := log.Lines(); len(lines) != 1 || LineProblem(lines[0]) != "key source more than once" {
		t.Fatalf("lines %q", lines)
	}
}
