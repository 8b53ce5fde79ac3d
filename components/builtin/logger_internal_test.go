package builtin

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

func TestKnownFieldsAreNotRepeated(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	base := watermill.NewSlogLogger(slog.New(slog.NewJSONHandler(&buf, nil))).With(watermill.LogFields{"source": "journey"})
	l := withKnownFields(base, map[string]string{"source": "journey"})
	l.With(watermill.LogFields{"source": "journey", "feed": "journey"}).Info("polling", watermill.LogFields{"source": "journey", "n": 1})
	l.Info("other", watermill.LogFields{"source": "other"}) // a different value is kept
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || strings.Count(lines[0], `"source"`) != 1 || !strings.Contains(lines[0], `"feed":"journey"`) || !strings.Contains(lines[0], `"n":1`) {
		t.Fatalf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], `"source":"other"`) {
		t.Fatalf("second line %q", lines[1])
	}
}
