package batchfeed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Batch is one answer of next: the notifications to store, in order, before
// completing BatchID.
type Batch struct {
	ID            string
	Notifications []Notification
	MoreAvailable bool
}

// Notification is one event of a batch. Raw is the notification object
// exactly as received (it becomes the message payload).
type Notification struct {
	ID            string
	EventType     string
	When          string
	TenantID      string
	CausationID   string
	CorrelationID string
	RelativeURL   string
	Payload       json.RawMessage
	Raw           json.RawMessage
}

// ErrInvalidBatch marks a 200 answer that is not a batch the source may
// store and complete. The source retries; it never completes such a batch.
var ErrInvalidBatch = errors.New("invalid batch")

type wireBatch struct {
	BatchID       json.RawMessage   `json:"batchId"`
	Notifications []json.RawMessage `json:"notifications"`
	MoreAvailable bool              `json:"moreAvailable"`
}

type wireNotification struct {
	ID            *string         `json:"id"`
	EventType     string          `json:"eventType"`
	When          string          `json:"when"`
	TenantID      string          `json:"tenantId"`
	CausationID   string          `json:"causationId"`
	CorrelationID string          `json:"correlationId"`
	RelativeURL   string          `json:"relativeUrl"`
	Payload       json.RawMessage `json:"payload"`
}

// ParseBatch decodes and checks a 200 body of next: well-formed JSON, a
// batchId (a string, or a number kept as written), 1 to max notifications,
// each an object with a non-empty id. Anything else wraps ErrInvalidBatch.
func ParseBatch(body []byte, max int) (*Batch, error) {
	var w wireBatch
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON (%d bytes): %w", ErrInvalidBatch, len(body), err)
	}
	id, err := batchID(w.BatchID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	switch {
	case len(w.Notifications) == 0:
		return nil, fmt.Errorf("%w: batch %q has no notifications (a 200 must carry 1 to %d)", ErrInvalidBatch, id, max)
	case len(w.Notifications) > max:
		return nil, fmt.Errorf("%w: batch %q has %d notifications, more than %d", ErrInvalidBatch, id, len(w.Notifications), max)
	}
	b := &Batch{ID: id, MoreAvailable: w.MoreAvailable, Notifications: make([]Notification, len(w.Notifications))}
	for i, raw := range w.Notifications {
		var n wireNotification
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("%w: batch %q notification %d: %w", ErrInvalidBatch, id, i, err)
		}
		if n.ID == nil || *n.ID == "" {
			return nil, fmt.Errorf("%w: batch %q notification %d has no id", ErrInvalidBatch, id, i)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, fmt.Errorf("%w: batch %q notification %d: %w", ErrInvalidBatch, id, i, err)
		}
		b.Notifications[i] = Notification{
			ID: *n.ID, EventType: n.EventType, When: n.When, TenantID: n.TenantID,
			CausationID: n.CausationID, CorrelationID: n.CorrelationID, RelativeURL: n.RelativeURL,
			Payload: n.Payload, Raw: compact.Bytes(),
		}
	}
	return b, nil
}

// batchID accepts a string or a number (kept as written) and refuses
// anything else: the id goes back into the complete URL.
func batchID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("batchId is missing")
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("batchId: %w", err)
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", fmt.Errorf("batchId %s: want a string or a number", raw)
		}
		s = n.String()
	}
	if s == "" {
		return "", errors.New("batchId is empty")
	}
	for _, r := range s {
		if r == '/' || r == '?' || r == '#' || r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("batchId %q holds characters that cannot go in its URL", s)
		}
	}
	return s, nil
}
