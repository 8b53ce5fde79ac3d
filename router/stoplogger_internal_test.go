package router

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

// TestStopLoggerCleanStop: Watermill's "All handlers stopped" is an ERROR
// while the router runs, and INFO once its stop has begun (every clean stop
// logs it), as is an error that is the stop's cancellation (maintenance cut
// short); other errors stay errors.
func TestStopLoggerCleanStop(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	stopping := make(chan struct{})
	l := stopLogger{watermill.NewSlogLogger(slog.New(slog.NewJSONHandler(&buf, nil))), stopping}.With(watermill.LogFields{"k": "v"})
	line := func(msg string) string {
		buf.Reset()
		l.Error(msg, nil, nil)
		return buf.String()
	}
	if got := line(handlersStopped); !strings.Contains(got, `"level":"ERROR"`) {
		t.Fatalf("before the stop: %s", got)
	}
	close(stopping)
	if got := line(handlersStopped); !strings.Contains(got, `"level":"INFO"`) || !strings.Contains(got, `"k":"v"`) {
		t.Fatalf("during the stop: %s", got)
	}
	if got := line("something else"); !strings.Contains(got, `"level":"ERROR"`) {
		t.Fatalf("another error during the stop: %s", got)
	}
	buf.Reset()
	l.Error("Pruning failed", fmt.Errorf("prune: %w", context.Canceled), nil)
	if got := buf.String(); !strings.Contains(got, `"level":"INFO"`) || !strings.Contains(got, "context canceled") {
		t.Fatalf("a cancellation during the stop: %s", got)
	}
}
