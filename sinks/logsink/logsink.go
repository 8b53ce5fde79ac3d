// Package logsink is the log sink: one JSON line per event (pipeline, sink,
// event id and type, source, payload) to stdout, stderr or a file.
package logsink

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// Config configures the log sink: the `options:` of a `log` sink.
type Config struct {
	// Path is "stdout" (the default), "stderr" or a file to append to.
	Path string `yaml:"path"`
}

// Sink is a message.Publisher that writes one JSON line per event.
type Sink struct {
	pipeline, name string
	mu             sync.Mutex
	w              io.Writer
	closer         io.Closer
}

// New opens the sink's output; pipeline and name go into every line.
func New(o Config, pipeline, name string) (*Sink, error) {
	s := &Sink{pipeline: pipeline, name: name}
	switch o.Path {
	case "", "stdout":
		s.w = os.Stdout
	case "stderr":
		s.w = os.Stderr
	default:
		f, err := os.OpenFile(o.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("log sink: %w", err)
		}
		s.w, s.closer = f, f
	}
	return s, nil
}

// Publish implements message.Publisher.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		line := map[string]any{
			"pipeline": s.pipeline, "sink": s.name,
			"event_id": tributary.EventID(m), "event_type": m.Metadata.Get(tributary.MetaEventType),
			"source": m.Metadata.Get(tributary.MetaSource),
		}
		if json.Valid(m.Payload) {
			line["payload"] = json.RawMessage(m.Payload)
		} else {
			line["payload"] = string(m.Payload)
		}
		b, _ := json.Marshal(line)
		if _, err := s.w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("log sink: %w", err)
		}
	}
	return nil
}

// Close implements message.Publisher.
func (s *Sink) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}
