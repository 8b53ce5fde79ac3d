package backoff

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestExponential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		base   time.Duration
		factor float64
		steps  int
		max    time.Duration
		want   time.Duration
	}{
		{time.Second, 2, 0, time.Minute, time.Second},
		{time.Second, 2, -3, time.Minute, time.Second},
		{time.Second, 2, 3, time.Minute, 8 * time.Second},
		{time.Second, 2, 6, time.Minute, time.Minute},
		{time.Second, 2, 1 << 30, time.Minute, time.Minute},
		{100 * time.Millisecond, 1.5, 2, time.Minute, 225 * time.Millisecond},
		{time.Hour, 2, 0, time.Minute, time.Minute},
		{time.Second, math.Inf(1), 1, time.Minute, time.Minute},
		{math.MaxInt64, 2, 2, math.MaxInt64, math.MaxInt64},
	} {
		if got := Exponential(tc.base, tc.factor, tc.steps, tc.max); got != tc.want {
			t.Errorf("Exponential(%v, %v, %d, %v) = %v, want %v", tc.base, tc.factor, tc.steps, tc.max, got, tc.want)
		}
	}
}

func TestJitter(t *testing.T) {
	t.Parallel()
	if got := Jitter(time.Second, 0); got != time.Second {
		t.Errorf("no jitter: %v", got)
	}
	if got := Jitter(0, 0.5); got != 0 {
		t.Errorf("zero wait: %v", got)
	}
	var lo, hi bool
	for range 1000 {
		d := Jitter(time.Second, 0.2)
		if d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("Jitter(1s, 0.2) = %v, outside ±20%%", d)
		}
		lo, hi = lo || d < time.Second, hi || d > time.Second
	}
	if !lo || !hi {
		t.Errorf("jitter one-sided: below %v, above %v", lo, hi)
	}
}

func TestJitterUp(t *testing.T) {
	t.Parallel()
	if got := JitterUp(time.Second, 0); got != time.Second {
		t.Errorf("no jitter: %v", got)
	}
	if got := JitterUp(-time.Second, 0.5); got != -time.Second {
		t.Errorf("negative wait: %v", got)
	}
	var longer bool
	for range 1000 {
		d := JitterUp(time.Second, 0.2)
		if d < time.Second || d >= 1200*time.Millisecond {
			t.Fatalf("JitterUp(1s, 0.2) = %v, outside [1s, 1.2s)", d)
		}
		longer = longer || d > time.Second
	}
	if !longer {
		t.Error("JitterUp never lengthened")
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("cancelled sleep: %v", err)
	}
	if err := Sleep(ctx, 0); err != context.Canceled {
		t.Fatalf("cancelled zero sleep: %v", err)
	}
}
