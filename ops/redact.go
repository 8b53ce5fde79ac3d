package ops

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// secretKey matches payload and metadata keys whose values are credentials.
var secretKey = regexp.MustCompile(`(?i)token|secret|passw(or)?d|^auth$|authori[sz]ation|api[-_]?key|signature|credential|cookie|private[-_]?key`)

const redacted = "[redacted]"

// Redactor hides secrets in what the console shows: values of keys that look
// like credentials, and every configured secret wherever it appears.
type Redactor struct {
	secrets []string
}

// NewRedactor returns a Redactor for the configured secrets. Very short
// values are ignored: replacing "a" everywhere would hide nothing and wreck
// the page.
func NewRedactor(secrets []string) Redactor {
	var s []string
	for _, v := range secrets {
		if len(v) >= 4 {
			s = append(s, v)
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return Redactor{secrets: s}
}

// Text replaces every configured secret in s.
func (r Redactor) Text(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

// Payload returns a payload for display: indented JSON with the values of
// secret-looking keys replaced, or, when it is not JSON, its text; either
// way without configured secrets.
func (r Redactor) Payload(p []byte) string {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber() // keep big numbers as sent
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if out, err := json.MarshalIndent(redactValue(v), "", "  "); err == nil {
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

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if secretKey.MatchString(k) {
				t[k] = redacted // nested or not: all of it
				continue
			}
			t[k] = redactValue(x)
		}
	case []any:
		for i, x := range t {
			t[i] = redactValue(x)
		}
	}
	return v
}
