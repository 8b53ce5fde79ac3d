package tributarytest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// Features says what a source under test does beyond what every source
// must (hand on every event, hand on again what was not stored, stop when
// its context ends): the suite checks those only where declared, as
// Watermill's pubsub/tests.TestPubSub does with its Features.
type Features struct {
	// Ordered: events are handed on in the order Publish returned them.
	Ordered bool
	// Restarts: the source starts again after it stopped (leadership
	// moving away and back) and then hands on every event it had not had
	// stored, however far it had read: its cursor stays behind what is
	// stored.
	Restarts bool
	// Timeout bounds each wait of the suite; 30 s when zero.
	Timeout time.Duration
}

// Harness is one source under test and the provider it reads.
type Harness struct {
	// Source reads the provider.
	Source tributary.Source
	// Publish has the provider hold n new events and returns their event
	// ids (tributary.EventID), in provider order. It may block until the
	// source took them (a webhook answers its sender only then): the suite
	// calls it in a goroutine of its own while the source runs.
	Publish func(t *testing.T, n int) []string
}

// TestSource runs the conformance tests on a source: newHarness builds a
// fresh source and provider for each test (t is that test's).
//
//	func TestConformance(t *testing.T) {
//		tributarytest.TestSource(t, tributarytest.Features{Ordered: true, Restarts: true},
//			func(t *testing.T) tributarytest.Harness { … })
//	}
func TestSource(t *testing.T, features Features, newHarness func(t *testing.T) Harness) {
	features.Timeout = cmp.Or(features.Timeout, 30*time.Second)
	tests := []struct {
		name string
		run  func(*testing.T, Features, Harness)
		need bool
	}{
		{"HandsOnEveryEvent", testHandsOnEveryEvent, true},
		{"HandsOnAgainWhatWasNotStored", testHandsOnAgain, true},
		{"StopsCleanly", testStopsCleanly, true},
		{"CursorStaysBehindStored", testCursorBehindStored, features.Restarts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.need {
				t.Skip("not a declared feature")
			}
			tc.run(t, features, newHarness(t))
		})
	}
}

// recorder is the pipeline side of a run: what it stored, in order.
type recorder struct {
	mu     sync.Mutex
	stored []string
	seen   map[string]int // hand-ons by id
	// fail decides, for a group, whether storing it fails.
	fail func(ids []string) bool
	// late reports an Emit after the source said it stopped.
	stopped, late bool
}

func newRecorder(fail func([]string) bool) *recorder {
	return &recorder{seen: map[string]int{}, fail: fail}
}

func (r *recorder) emit(_ context.Context, msgs ...*message.Message) error {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = tributary.EventID(m)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		r.late = true
	}
	for _, id := range ids {
		r.seen[id]++
	}
	if r.fail != nil && r.fail(ids) {
		return errNotStored
	}
	r.stored = append(r.stored, ids...)
	return nil
}

var errNotStored = errors.New("tributarytest: the group was not stored (a test's failure)")

func (r *recorder) has(ids []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !slices.ContainsFunc(ids, func(id string) bool { return !slices.Contains(r.stored, id) })
}

// start starts h.Source with rec's Emit; the returned function stops it
// and reports the reason it gave.
func start(t *testing.T, f Features, h Harness, rec *recorder) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := h.Source.Start(ctx, rec.emit, func(err error) {
		rec.mu.Lock()
		rec.stopped = true
		rec.mu.Unlock()
		done <- err
	}); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	var once sync.Once
	var reason error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case reason = <-done:
			case <-time.After(f.Timeout):
				t.Fatalf("the source did not call stopped within %v of its context ending", f.Timeout)
			}
		})
		return reason
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// publish runs h.Publish in a goroutine (it may block until the source
// took the events) and returns the ids.
func publish(t *testing.T, f Features, h Harness, n int) []string {
	t.Helper()
	ids := make(chan []string, 1)
	go func() { ids <- h.Publish(t, n) }()
	select {
	case got := <-ids:
		return got
	case <-time.After(f.Timeout):
		t.Fatalf("Publish(%d) did not return within %v", n, f.Timeout)
		return nil
	}
}

func waitFor(t *testing.T, f Features, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(f.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, f.Timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testHandsOnEveryEvent: every published event is stored, once (a source
// may hand an event on twice only when storing it failed), and in provider
// order when declared.
func testHandsOnEveryEvent(t *testing.T, f Features, h Harness) {
	rec := newRecorder(nil)
	start(t, f, h, rec)
	var want []string
	for range 3 {
		want = append(want, publish(t, f, h, 5)...)
		waitFor(t, f, "every published event stored", func() bool { return rec.has(want) })
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, id := range want {
		if rec.seen[id] != 1 {
			t.Errorf("event %s handed on %d times, want once (every group was stored)", id, rec.seen[id])
		}
	}
	if f.Ordered {
		got := slices.DeleteFunc(slices.Clone(rec.stored), func(id string) bool { return !slices.Contains(want, id) })
		if !slices.Equal(got, want) {
			t.Errorf("stored %v, want provider order %v", got, want)
		}
	}
}

// testHandsOnAgain: a group whose storing fails is handed on again until
// it is stored; nothing is lost.
func testHandsOnAgain(t *testing.T, f Features, h Harness) {
	var failures int
	rec := newRecorder(func([]string) bool {
		failures++
		return failures <= 2 // the first two groups fail
	})
	start(t, f, h, rec)
	want := publish(t, f, h, 4)
	waitFor(t, f, "every event stored after failed stores", func() bool { return rec.has(want) })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.ContainsFunc(want, func(id string) bool { return rec.seen[id] > 1 }) {
		t.Errorf("no event was handed on again although storing failed twice (hand-ons %v)", rec.seen)
	}
}

// testStopsCleanly: when its context ends the source calls stopped with
// nil, and Emit is not called after that.
func testStopsCleanly(t *testing.T, f Features, h Harness) {
	rec := newRecorder(nil)
	stop := start(t, f, h, rec)
	want := publish(t, f, h, 2)
	waitFor(t, f, "the events stored", func() bool { return rec.has(want) })
	if err := stop(); err != nil {
		t.Fatalf("stopped with %v, want nil (a stop is no failure)", err)
	}
	time.Sleep(50 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.late {
		t.Error("Emit was called after the source called stopped")
	}
}

// testCursorBehindStored: a source stopped while what it read is not yet
// stored hands all of that on again when started again, so its cursor
// never ran ahead of what is stored.
func testCursorBehindStored(t *testing.T, f Features, h Harness) {
	refuse := newRecorder(func([]string) bool { return true })
	stop := start(t, f, h, refuse)
	want := publish(t, f, h, 3)
	waitFor(t, f, "the source reading the events", func() bool {
		refuse.mu.Lock()
		defer refuse.mu.Unlock()
		return refuse.seen[want[0]] > 1 // read, refused, and handed on again
	})
	if err := stop(); err != nil {
		t.Fatalf("stopped with %v, want nil", err)
	}
	rec := newRecorder(nil)
	start(t, f, h, rec)
	waitFor(t, f, "every event not stored before the stop handed on again after it", func() bool { return rec.has(want) })
}
