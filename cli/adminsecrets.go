package cli

import (
	"net/url"
	"regexp"
	"strings"
)

// secretEnvName matches environment variables that hold credentials; the
// pipeline file takes its secrets from the environment (${VAR}), so their
// values are what the admin page must never show.
var secretEnvName = regexp.MustCompile(`(?i)token|secret|passw(or)?d|passwd|api_?key|auth|credential|private_?key|dsn|database_url`)

// adminSecrets returns the values the admin page hides: those of
// credential-looking variables in environ ("NAME=value" pairs), and the
// password of any URL in any variable (a broker's RABBITMQ_URL, say).
func adminSecrets(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		if secretEnvName.MatchString(name) {
			out = append(out, value)
		}
		if u, err := url.Parse(value); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
