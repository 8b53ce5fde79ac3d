package cli

import (
	"strings"

	"github.com/tributary-dev/tributary/internal/redact"
)

// adminSecrets returns the values the admin page hides: those of
// credential-looking variables in environ ("NAME=value" pairs), and the
// credentials of any URL among them (its password, and the base64 of its
// user info that an Authorization: Basic header carries).
func adminSecrets(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" || !redact.SecretEnvName.MatchString(name) {
			continue
		}
		out = append(out, value)
		out = append(out, redact.URL(value)...)
	}
	return out
}
