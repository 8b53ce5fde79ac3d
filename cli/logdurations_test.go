package cli

import (
	"log/slog"
	"testing"
	"time"
)

// TestHumanDurations: the binary's JSON logs write a duration as an
// operator reads it, not as nanoseconds nor with every digit of
// Duration.String.
func TestHumanDurations(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{5159750813 * time.Nanosecond, "5.16s"},
		{29*time.Second + 897348905, "29.897s"},
		{30 * time.Second, "30s"},
		{90 * time.Minute, "1h30m0s"},
		{3456789 * time.Nanosecond, "3.457ms"},
		{1500 * time.Nanosecond, "1.5µs"},
		{-2500123 * time.Microsecond, "-2.5s"},
		{0, "0s"},
	} {
		got := humanDurations(nil, slog.Duration("wait", c.d))
		if got.Key != "wait" || got.Value.Kind() != slog.KindString || got.Value.String() != c.want {
			t.Errorf("%d ns: %s=%v (%s), want %q", int64(c.d), got.Key, got.Value, got.Value.Kind(), c.want)
		}
	}
	if got := humanDurations(nil, slog.Int("n", 5)); got.Value.Kind() != slog.KindInt64 {
		t.Errorf("an int became %s", got.Value.Kind())
	}
}
