package cli

import (
	"regexp"
	"strings"

	"github.com/tributary-dev/tributary/internal/redact"
)

// secretEnvName matches environment variables that hold credentials; the
// pipeline file takes its secrets from the environment (${VAR}), so their
// values are what the admin page must never show.
var secretEnvName = regexp.MustCompile(`(?i)token|secret|passw(or)?d|passwd|(^|_)(pass|pwd)($|_)|api_?key|auth|credential|private_?key|dsn|database_url`)

// adminSecrets returns the values the admin page hides: those of
// credential-looking variables in environ ("NAME=value" pairs), and the
// credentials of any URL among them (its password, and the base64 of its
// user info that an Authorization: Basic header carries).
func adminSecrets(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" || !secretEnvName.MatchString(name) {
			continue
		}
		out = append(out, value)
		out = append(out, redact.URL(value)...)
	}
	return out
}
