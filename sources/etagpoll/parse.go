package etagpoll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Event is one event-log entry as read off the wire.
type Event struct {
	ID        string
	Type      string
	CreatedAt time.Time // server's insertion time: the cursor follows it
	Timestamp string    // when the door was unlocked, as sent; may be empty
	Raw       json.RawMessage
}

// fields names the JSON members the parser reads.
type fields struct {
	id, createdAt, typ, timestamp, items string
}

func (c Config) fields() fields {
	return fields{id: c.IDField, createdAt: c.CreatedAtField, typ: c.TypeField, timestamp: c.TimestampField, items: c.ItemsField}
}

// errBadEvent marks an entry the source cannot carry (no id, no createdAt).
var errBadEvent = errors.New("invalid event")

// parseEvents decodes a page of the event log: a JSON array of events, or an
// object holding that array under f.items. Any entry without an id or a
// createdAt fails the whole page: carrying on past it would advance the
// cursor over an event that was never handed on.
func parseEvents(body []byte, f fields) ([]Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty body, want a JSON array of events")
	}
	var items []json.RawMessage
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("decode event list: %w", err)
		}
	case '{':
		var env map[string]json.RawMessage
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fmt.Errorf("decode response object: %w", err)
		}
		raw, ok := env[f.items]
		if !ok {
			return nil, fmt.Errorf("response object has no %q array", f.items)
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, nil
		}
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("decode %q: %w", f.items, err)
		}
	default:
		return nil, errors.New("body is not JSON (want an array of events or an object)")
	}
	events := make([]Event, 0, len(items))
	for i, raw := range items {
		ev, err := parseEvent(raw, f)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		events = append(events, ev)
	}
	return events, nil
}

func parseEvent(raw json.RawMessage, f fields) (Event, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return Event{}, fmt.Errorf("%w: not a JSON object", errBadEvent)
	}
	id, err := scalar(obj[f.id])
	if err != nil || id == "" {
		return Event{}, fmt.Errorf("%w: missing or empty %q", errBadEvent, f.id)
	}
	created, err := parseTime(obj[f.createdAt])
	if err != nil {
		return Event{}, fmt.Errorf("%w %q: %q: %v", errBadEvent, id, f.createdAt, err)
	}
	typ, _ := scalar(obj[f.typ])
	ts, _ := scalar(obj[f.timestamp])
	return Event{ID: id, Type: typ, CreatedAt: created, Timestamp: ts, Raw: append(json.RawMessage(nil), raw...)}, nil
}

// scalar renders a JSON string or number as text; absent and null give "".
func scalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("want a string or a number: %w", err)
	}
	return n.String(), nil
}

// parseTime reads an RFC 3339 string or a number of Unix milliseconds.
func parseTime(raw json.RawMessage) (time.Time, error) {
	s, err := scalar(raw)
	switch {
	case err != nil:
		return time.Time{}, err
	case s == "":
		return time.Time{}, errors.New("missing")
	case bytes.TrimSpace(raw)[0] != '"':
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("want Unix milliseconds: %w", err)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}
