package tributary

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// EventFields reads the event id and type from the top level of a JSON body.
// A string or number id counts; anything else (absent, object, null) does
// not, and the caller falls back to a hash of the body. So does a body that
// is not JSON at all, such as an object followed by more bytes: its id would
// be a guess.
func EventFields(body []byte, idField, typeField string) (id, typ string) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		// Not an object: valid JSON of another shape carries no id.
		return "", ""
	}
	// A Decoder stops after the first value; the body must hold nothing else.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", ""
	}
	return jsonScalar(top[idField]), jsonScalar(top[typeField])
}

func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := strconv.ParseFloat(n.String(), 64); err == nil {
			return n.String()
		}
	}
	return ""
}

// BodyID is the fallback event id of a source that found none: the same body always dedups to itself.
func BodyID(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}
