package cli

import (
	"net/url"
	"strings"

	"github.com/tributary-dev/tributary/internal/redact"
)

// adminSecrets returns the values the admin page hides: those of
// credential-looking variables in environ ("NAME=value" pairs), the
// credentials of any URL among them (its password, and the base64 of its
// user info that an Authorization: Basic header carries), and the password
// of a URL in any other variable (a broker's RABBITMQ_URL, say).
func adminSecrets(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		if redact.SecretEnvName.MatchString(name) {
			out = append(out, value)
			out = append(out, redact.URL(value)...)
			continue
		}
		if u, err := url.Parse(value); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, redact.Basic(u.User.Username(), p)...)
			}
		}
	}
	return out
}
