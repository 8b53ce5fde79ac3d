// Package redact hides secrets in text bound for a log, the delivery log or
// a console page, in every form they travel in: as typed, escaped inside a
// JSON string (a receiver that echoes a header quotes it so), escaped in a
// URL, and, for HTTP Basic credentials, as the base64 the Authorization
// header carries.
//
//	r := redact.New("[redacted]", redact.Forms(token), redact.Basic(user, pass))
//	safe := r.Replace(body)
package redact

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// MinLen is the shortest secret worth hiding: shorter strings would mangle
// ordinary text and are no secret anyway.
const MinLen = 4

// SecretHeader matches header names whose values are credentials.
var SecretHeader = regexp.MustCompile(`(?i)authori[sz]ation|signature|token|secret|passw(or)?d|api[-_]?key|credential|cookie|^auth|session`)

// SecretEnvName matches environment variables that hold credentials: a
// pipeline file takes its secrets from the environment (${VAR}), so their
// values are what no page, log or error may show.
var SecretEnvName = regexp.MustCompile(`(?i)token|secret|passw(or)?d|passwd|(^|_)(pass|pwd)($|_)|api_?key|auth|credential|private_?key|dsn|database_url`)

// Headers returns the Forms of the values of headers whose names
// SecretHeader matches.
func Headers(h map[string]string) []string {
	var out []string
	for k, v := range h {
		if SecretHeader.MatchString(k) {
			out = append(out, Forms(v)...)
		}
	}
	return out
}

// Forms returns the forms secret may be seen in: itself, as encoding/json
// writes it inside a string (with and without HTML escaping: `<` may come
// out as \u003c), and query- and path-escaped. Nil when secret is shorter
// than MinLen.
func Forms(secret string) []string {
	if len(secret) < MinLen {
		return nil
	}
	out := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for _, html := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(secret) == nil {
			s := strings.TrimSuffix(b.String(), "\n")
			out = append(out, s[1:len(s)-1]) // without the quotes
		}
	}
	return out
}

// Basic returns the forms of HTTP Basic credentials: base64 of
// "user:password" in the standard and URL alphabets (unpadded, so that it is
// found padded too), and the password's own Forms. Nil without a password.
func Basic(user, password string) []string {
	if password == "" {
		return nil
	}
	pair := []byte(user + ":" + password)
	return append(Forms(password), base64.RawStdEncoding.EncodeToString(pair), base64.RawURLEncoding.EncodeToString(pair))
}

// URL returns the forms of the credentials a URL carries: its user info's
// Basic forms and each query value's Forms (receivers often take a key in the
// query string).
func URL(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok {
		out = append(out, Basic(u.User.Username(), p)...)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			out = append(out, Forms(v)...)
		}
	}
	return out
}

// Replacer replaces every form it was given. The zero value replaces
// nothing. It is safe for concurrent use.
type Replacer struct {
	r *strings.Replacer
}

// New returns a Replacer of the given forms (from Forms, Basic, URL) by
// with; forms shorter than MinLen are dropped, and a longer form wins over
// one it contains.
func New(with string, forms ...[]string) Replacer {
	var all []string
	for _, f := range forms {
		for _, s := range f {
			if len(s) >= MinLen {
				all = append(all, s)
			}
		}
	}
	slices.SortFunc(all, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	all = slices.Compact(all)
	if len(all) == 0 {
		return Replacer{}
	}
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, with)
	}
	return Replacer{r: strings.NewReplacer(pairs...)}
}

// Replace returns s with every form replaced.
func (r Replacer) Replace(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Empty reports whether r replaces nothing.
func (r Replacer) Empty() bool { return r.r == nil }
