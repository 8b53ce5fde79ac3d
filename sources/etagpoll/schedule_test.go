package etagpoll

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPollSlotsBoundAndRunAll(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ max, jobs int }{{1, 5}, {3, 20}, {16, 16}} {
		p := &pollSlots{max: tc.max}
		var running, peak, ran atomic.Int64
		var wg sync.WaitGroup
		for range tc.jobs {
			wg.Add(1)
			go p.do(func() {
				defer wg.Done()
				n := running.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
				ran.Add(1)
			})
		}
		wg.Wait()
		if ran.Load() != int64(tc.jobs) || peak.Load() > int64(tc.max) {
			t.Errorf("max %d: ran %d of %d, peak %d at once", tc.max, ran.Load(), tc.jobs, peak.Load())
		}
	}
}

// TestAfterRunsExactlyOne: on the real clock, after runs f when the wait
// ends first and stop when the context ends first, never both.
func TestAfterRunsExactlyOne(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		cancelAt time.Duration // <0: never
		wantF    bool
	}{
		{"fires", time.Millisecond, -1, true},
		{"cancelled before", time.Hour, 0, false},
		{"cancelled while waiting", time.Hour, 5 * time.Millisecond, false},
		{"already cancelled, no wait", 0, -2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &Source{slots: &pollSlots{max: 1}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelAt == -2 {
				cancel()
			}
			var f, stop atomic.Int32
			done := make(chan struct{}, 2)
			s.after(ctx, tc.wait, func() { f.Add(1); done <- struct{}{} }, func() { stop.Add(1); done <- struct{}{} })
			if tc.cancelAt >= 0 {
				time.Sleep(tc.cancelAt)
				cancel()
			}
			<-done
			time.Sleep(10 * time.Millisecond) // a second call would come now
			if got := f.Load() == 1; got != tc.wantF || f.Load()+stop.Load() != 1 {
				t.Errorf("f ran %d times, stop %d times", f.Load(), stop.Load())
			}
		})
	}
}
