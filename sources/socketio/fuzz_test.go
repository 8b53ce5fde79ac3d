package socketio

import (
	"encoding/json"
	"testing"
)

// FuzzEventID feeds arbitrary events to the event id: no panic, and the same
// event always has the same, non-empty id.
func FuzzEventID(f *testing.F) {
	f.Add("door.request.allowed", []byte(`{"id":"e1","body":{"doorId":1},"occurred":"2023-05-03 19:04:55"}`))
	f.Add("door.alarm.forced", []byte(`{"body":{"doorId":1},"occurred":{"a":[1,2.50,"\u00e9"]}}`))
	f.Add("x", []byte(`[]`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		a, b := EventID(name, json.RawMessage(data)), EventID(name, json.RawMessage(append([]byte(nil), data...)))
		if a == "" || a != b {
			t.Fatalf("unstable id %q %q", a, b)
		}
	})
}
