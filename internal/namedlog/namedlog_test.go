package namedlog_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/tributary-dev/tributary/internal/namedlog"
)

// TestNameLearntLater: lines before SetName carry no name; after it, every
// line does, from derived loggers too, and a line's own field wins.
func TestNameLearntLater(t *testing.T) {
	t.Parallel()
	captured := watermill.NewCaptureLogger()
	l := namedlog.New(captured, "source")
	derived := l.With(watermill.LogFields{"feed": "f1"})
	l.Info("before", nil)
	l.SetName("doors")
	derived.Info("after", nil)
	l.Info("own", watermill.LogFields{"source": "explicit"})
	logs := captured.Captured()[watermill.InfoLogLevel]
	if len(logs) != 3 {
		t.Fatalf("%d lines", len(logs))
	}
	if _, ok := logs[0].Fields["source"]; ok {
		t.Errorf("named before SetName: %v", logs[0].Fields)
	}
	if logs[1].Fields["source"] != "doors" || logs[1].Fields["feed"] != "f1" {
		t.Errorf("derived logger after SetName: %v", logs[1].Fields)
	}
	if logs[2].Fields["source"] != "explicit" {
		t.Errorf("the line's own field lost: %v", logs[2].Fields)
	}
	if l.Name() != "doors" {
		t.Errorf("Name %q", l.Name())
	}
}
