package ops

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/tributary-dev/tributary/internal/redact"
)

// secretKey matches payload and metadata keys whose values are credentials.
var secretKey = regexp.MustCompile(`(?i)token|secret|passw(or)?d|^auth$|authori[sz]ation|api[-_]?key|signature|credential|cookie|private[-_]?key`)

const redacted = "[redacted]"

// Redactor hides secrets in what the console shows: values of keys that look
// like credentials, and every configured secret wherever it appears, in any
// of the forms internal/redact knows (as typed, JSON- and URL-escaped).
type Redactor struct {
	r redact.Replacer
}

// NewRedactor returns a Redactor for the configured secrets. Values shorter
// than redact.MinLen are ignored: replacing "a" everywhere would hide
// nothing and wreck the page.
func NewRedactor(secrets []string) Redactor {
	forms := make([][]string, len(secrets))
	for i, v := range secrets {
		forms[i] = redact.Forms(v)
	}
	return Redactor{r: redact.New(redacted, forms...)}
}

// Text replaces every configured secret in s.
func (r Redactor) Text(s string) string { return r.r.Replace(s) }

// Payload returns a payload for display: indented JSON with the values of
// secret-looking keys replaced, or, when it is not JSON, its text; either
// way without configured secrets.
func (r Redactor) Payload(p []byte) string {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber() // keep big numbers as sent
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() {
		// Strings are scrubbed as decoded, before encoding/json escapes
		// them again (`<` as \u003c), and the result once more.
		if out, err := json.MarshalIndent(r.value(v), "", "  "); err == nil {
			return r.Text(string(out))
		}
	}
	if !utf8.Valid(p) {
		return "(binary payload, " + strconv.Itoa(len(p)) + " bytes)"
	}
	return r.Text(string(p))
}

// Metadata returns metadata for display, sorted by key, secrets redacted.
func (r Redactor) Metadata(m map[string]string) [][2]string {
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		if secretKey.MatchString(k) {
			v = redacted
		}
		out = append(out, [2]string{k, r.Text(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// value hides the values of secret-looking keys and scrubs every other
// string, keys included.
func (r Redactor) value(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if secretKey.MatchString(k) {
				x = redacted // nested or not: all of it
			} else {
				x = r.value(x)
			}
			out[r.Text(k)] = x
		}
		return out
	case []any:
		for i, x := range t {
			t[i] = r.value(x)
		}
	case string:
		return r.Text(t)
	}
	return v
}
