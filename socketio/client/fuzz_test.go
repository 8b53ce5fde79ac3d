package client

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzJSONFrame feeds arbitrary frames to the plain-WebSocket parser: no
// panic, and an accepted frame has a name and is handed on whole.
func FuzzJSONFrame(f *testing.F) {
	for _, s := range []string{
		`{"id":"e1","topic":"door.request.allowed","body":{"doorId":1},"occurred":"2023-05-03 19:04:55"}`,
		`{"topic":"door.alarm.forced","body":{"doorId":1}}`, `{"topic":1}`, `{"topic":`, `[]`, `null`, `{"id":12,"topic":"x"}`,
		`{"topic":"x","occurred":{"a":[1,2.50,"\u00e9"]}}`,
	} {
		f.Add([]byte(s))
	}
	c := &Client{cfg: Config{TopicField: "topic"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := c.parseJSONFrame(data)
		if err != nil {
			return
		}
		if ev.Name == "" {
			t.Fatal("accepted a frame without a name")
		}
		if !bytes.Equal(ev.Data, data) || len(ev.Args) != 1 || !json.Valid(ev.Data) {
			t.Fatalf("event %+v does not carry the frame %q", ev, data)
		}
	})
}
