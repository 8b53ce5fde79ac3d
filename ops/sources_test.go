package ops_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/metrics"
	"github.com/tributary-dev/tributary/ops"
)

// stoppingSource is any source type: it hands on one message, then its loop
// returns (closing its channel) when stop is closed, or on Close or ctx.
type stoppingSource struct {
	err       error // what Err reports once stopped; nil: a source without Err
	stop      chan struct{}
	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

func newStopping(err error) *stoppingSource {
	return &stoppingSource{err: err, stop: make(chan struct{}), closing: make(chan struct{}), done: make(chan struct{})}
}

func (s *stoppingSource) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(s.done)
		defer close(out)
		select {
		case out <- tributary.NewEventMessage("ev-1", []byte(`{}`)):
		case <-ctx.Done():
			return
		}
		select {
		case <-s.stop:
		case <-s.closing:
		case <-ctx.Done():
		}
	}()
	return out, nil
}

func (s *stoppingSource) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	<-s.done
	return nil
}

type withErr struct{ *stoppingSource }

func (s withErr) Err() error {
	select {
	case <-s.stop:
		return s.err
	default:
		return nil
	}
}

// wrapper stands for the binary's own wrappers (tracing) around a source.
type wrapper struct{ message.Subscriber }

func (w wrapper) Unwrap() message.Subscriber { return w.Subscriber }

// TestSourceMonitor: a source of any type whose channel closes on its own is
// failed — in its readiness check with the reason it gives (through
// wrappers) or a generic one, in tributary_source_up and in Failed — while
// one closed by Close or by the end of the run is not.
func TestSourceMonitor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		source func() (message.Subscriber, *stoppingSource)
		end    func(ctxCancel func(), sub message.Subscriber, s *stoppingSource)
		reason string // "" = not failed
	}{
		{"stops with a reason", func() (message.Subscriber, *stoppingSource) {
			s := newStopping(errors.New("feed \"x\" not found (404)"))
			return wrapper{withErr{s}}, s
		}, func(_ func(), _ message.Subscriber, s *stoppingSource) { close(s.stop) }, `feed "x" not found (404)`},
		{"stops without a reason", func() (message.Subscriber, *stoppingSource) {
			s := newStopping(nil)
			return s, s
		}, func(_ func(), _ message.Subscriber, s *stoppingSource) { close(s.stop) }, "its message channel closed"},
		{"closed", func() (message.Subscriber, *stoppingSource) {
			s := newStopping(nil)
			return s, s
		}, func(_ func(), sub message.Subscriber, _ *stoppingSource) { _ = sub.Close() }, ""},
		{"run ends", func() (message.Subscriber, *stoppingSource) {
			s := newStopping(nil)
			return s, s
		}, func(cancel func(), _ message.Subscriber, _ *stoppingSource) { cancel() }, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			name := "monitored-" + string(rune('a'+i))
			reg := prometheus.NewRegistry()
			metrics.NewSource(reg, "p", name).Up.Set(1)
			m := ops.NewSourceMonitor(reg, nil)
			src, s := c.source()
			sub := m.Watch("p", name, "test", src)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := sub.Subscribe(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if msg := <-ch; msg == nil || tributary.EventID(msg) != "ev-1" {
				t.Fatalf("message not forwarded: %v", msg)
			}
			c.end(cancel, sub, s)
			for range ch { // the wrapper closes its channel once the source's is
			}
			check := m.Checks([]ops.PipelineInfo{{Name: "p", Sources: []ops.ComponentInfo{{Name: name, Type: "test"}}}})
			if len(check) != 1 || check[0].Name != "source p/"+name {
				t.Fatalf("checks %+v", check)
			}
			err = check[0].Check(context.Background())
			up := testutil.ToFloat64(metrics.NewSource(reg, "p", name).Up)
			if c.reason == "" {
				select {
				case <-m.Failed():
					t.Errorf("Failed closed for a source that did not fail")
				default:
				}
				if err != nil || len(m.Failures()) != 0 || up != 1 {
					t.Errorf("not failed: check %v, failures %v, up %v", err, m.Failures(), up)
				}
				return
			}
			select {
			case <-m.Failed():
			case <-time.After(10 * time.Second):
				t.Fatal("Failed not closed")
			}
			if err == nil || !strings.Contains(err.Error(), "failed: "+c.reason) {
				t.Errorf("check: %v, want failed: %s", err, c.reason)
			}
			if fs := m.Failures(); len(fs) != 1 || fs[0].Source != name || fs[0].Pipeline != "p" || fs[0].Type != "test" {
				t.Errorf("failures %+v", fs)
			}
			if up != 0 {
				t.Errorf("tributary_source_up = %v, want 0", up)
			}
		})
	}
}
