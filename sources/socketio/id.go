package socketio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// envelope is the part of a provider event the source reads: the
// protocol's events are {id?, topic, body, occurred, metadata}; liveEvent, migration.*
// and serverError are bare objects.
type envelope struct {
	ID       json.RawMessage `json:"id"`
	Topic    string          `json:"topic"`
	Body     json.RawMessage `json:"body"`
	Occurred json.RawMessage `json:"occurred"`
}

// EventID returns the event's stable id: its own "id" when it has one,
// otherwise "sha256:" + a hash of the event name, the body (the whole object
// when it has no body) in canonical JSON, and "occurred". The hash makes the
// same alarm seen twice across a reconnect dedup; two events that share name,
// body and occurred (or lack occurred, as migration.started does) share an
// id too, so dedup keeps only one of them.
func EventID(name string, data json.RawMessage) string {
	var env envelope
	_ = json.Unmarshal(data, &env) // non-objects hash whole
	if id := idString(env.ID); id != "" {
		return id
	}
	body := env.Body
	if body == nil {
		body = data
	}
	h := sha256.Sum256(bytes.Join([][]byte{[]byte(name), canonicalJSON(body), canonicalJSON(env.Occurred)}, []byte{0}))
	return "sha256:" + hex.EncodeToString(h[:20])
}

// idString accepts a string or numeric id.
func idString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// canonicalJSON re-encodes JSON with sorted keys and no spacing, so that the
// hash does not depend on the server's key order; numbers keep their text.
func canonicalJSON(raw json.RawMessage) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}
