package redact_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/redact"
)

// TestReplaceEveryForm: a secret is hidden as typed, inside JSON (with and
// without HTML escaping), URL-escaped, and Basic credentials as the base64
// an Authorization header carries, padded or not; short values are left
// alone.
func TestReplaceEveryForm(t *testing.T) {
	t.Parallel()
	const odd = `p<w>&"d\1`
	htmlJSON, _ := json.Marshal(map[string]string{"echo": odd})
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"echo": odd})
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + odd))
	r := redact.New("[x]", redact.Forms(odd), redact.Basic("user", odd), redact.URL("https://u2:pw-url-9@h/p?key=k-777"), redact.Forms("abc"))
	for _, in := range []string{odd, string(htmlJSON), plain.String(), "a=" + url.QueryEscape(odd),
		"Authorization: Basic " + basic, base64.StdEncoding.EncodeToString([]byte("u2:pw-url-9")), "?key=k-777"} {
		out := r.Replace(in)
		if strings.Contains(out, "w>") || strings.Contains(out, `w\u003e`) || strings.Contains(out, strings.TrimRight(basic, "=")) ||
			strings.Contains(out, "pw-url") || strings.Contains(out, "k-777") || !strings.Contains(out, "[x]") {
			t.Errorf("Replace(%q) = %q", in, out)
		}
	}
	if out := r.Replace("abc def"); out != "abc def" {
		t.Errorf("a value shorter than MinLen was replaced: %q", out)
	}
	if out := (redact.Replacer{}).Replace("text"); out != "text" {
		t.Errorf("the zero Replacer changed %q", out)
	}
}
