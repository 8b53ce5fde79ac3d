package pipelinetest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// Runner is what RunRouter runs: a *router.Router.
type Runner interface {
	Run(context.Context) error
	Running() <-chan struct{}
}

// RunRouter runs r until stop is called or the test ends, failing tb if r
// does not start within 30 s, stops with an error, or does not stop within
// 60 s of being told to.
func RunRouter(tb testing.TB, r Runner) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Running():
	case err := <-done:
		cancel()
		tb.Fatalf("router stopped: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatal("router did not start")
	}
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("router: %v", err)
			}
		case <-time.After(60 * time.Second):
			tb.Error("router did not stop")
		}
	})
	tb.Cleanup(stop)
	return stop
}

// WaitFor polls cond every 10 ms until it holds, failing tb (Fatal) if it
// does not within timeout; what names the condition in the failure.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// EnvDuration is the duration in the environment variable name (e.g.
// TRIBUTARY_CHAOS_DURATION=3m, to lengthen a soak test), or def when it is
// unset, unreadable or not positive.
func EnvDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}
