package webhookin_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/tributary-dev/tributary/sources/webhookin"
)

// FuzzEventFields feeds arbitrary bodies to the id/type extraction: it must
// not panic, and an id it returns must be the body's own top-level id.
func FuzzEventFields(f *testing.F) {
	for _, s := range []string{`{"id":"e1","type":"door.unlocked"}`, `{"id":42}`, `{"id":1e400}`, `{"id":null}`,
		`{"id":{"x":1}}`, `[1,2]`, `"str"`, ``, `{`, `{"id":"\u00e9"}`, `{"id":"a","id":"b"}`, `{"id":-0.5e-3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, typ := webhookin.EventFields(body, "id", "type")
		if id == "" {
			return
		}
		if !utf8.ValidString(id) && json.Valid(body) {
			t.Fatalf("invalid UTF-8 id %q from %q", id, body)
		}
		var top map[string]any
		if err := json.Unmarshal(body, &top); err != nil {
			t.Fatalf("id %q from a body that is not a JSON object: %q", id, body)
		}
		_ = typ
	})
}
