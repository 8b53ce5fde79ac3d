package tributary

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// eventFieldsByDecoding is EventFields as it was: decode every top-level
// field, then read the two. The fuzz target holds the in-place reading to it.
func eventFieldsByDecoding(body []byte, idField, typeField string) (id, typ string) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return "", ""
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", ""
	}
	return jsonScalar(top[idField]), jsonScalar(top[typeField])
}

var eventFieldsSeeds = []string{
	`{"id":"evt_1","type":"door.opened"}`,
	` { "type" : "t" , "id" : 42 } `,
	`{"id":{"nested":"x"},"type":["a"]}`,
	`{"id":null,"type":true}`,
	`{"id":"a\"b","type":"\u00e9"}`,
	`{"i\u0064":"escaped key","type":"x"}`,
	`{"id":"first","id":"last"}`,
	`{"data":{"id":"inner"},"id":"outer"}`,
	`{"data":"}{\"id\":\"fake\"","id":"real"}`,
	`{"id":1e400}`, `{"id":-0.5e-3}`,
	`{"id":"x"} {"id":"y"}`, `[{"id":"x"}]`, `"id"`, ``, `{`, `{"id":"x",}`,
	"{\"id\":\"\xff\"}",
}

func TestEventFieldsAsDecoding(t *testing.T) {
	t.Parallel()
	for _, s := range eventFieldsSeeds {
		id, typ := EventFields([]byte(s), "id", "type")
		wid, wtyp := eventFieldsByDecoding([]byte(s), "id", "type")
		if id != wid || typ != wtyp {
			t.Errorf("%q: got (%q, %q), want (%q, %q)", s, id, typ, wid, wtyp)
		}
	}
}

func FuzzEventFields(f *testing.F) {
	for _, s := range eventFieldsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, typ := EventFields(body, "id", "type")
		wid, wtyp := eventFieldsByDecoding(body, "id", "type")
		if id != wid || typ != wtyp {
			t.Fatalf("%q: got (%q, %q), decoding gives (%q, %q)", body, id, typ, wid, wtyp)
		}
	})
}

func BenchmarkEventFields(b *testing.B) {
	body := []byte(`{"id":"evt_123","type":"door.request.allowed","occurred":"2026-11-30T12:00:00Z","door":{"id":1,"name":"Main entrance"},"user":{"id":"u_123","name":"Alva Berg"},"method":"app"}`)
	b.Run("in-place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EventFields(body, "id", "type")
		}
	})
	b.Run("decoding", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			eventFieldsByDecoding(body, "id", "type")
		}
	})
}
