package webhook

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

const redacted = "[redacted]"

// RedactURL is an endpoint URL as logs, the delivery log and operators see
// it: no user info, no fragment, and every query value replaced (receivers
// often take a key in the query string), keys sorted. Applied to its own
// output it changes nothing.
func RedactURL(raw string) string { return redactURL(raw) }

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.Fragment = ""
	if u.RawQuery != "" {
		q := u.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k+"="+redacted)
		}
		slices.Sort(keys) // the same text every time: it keys the endpoint's stored state
		u.RawQuery = strings.Join(keys, "&")
	}
	return u.String()
}

// scrubber removes known secret strings from text bound for a log, an error or
// the delivery log (a receiver may echo a header back in its body).
type scrubber struct{ secrets []string }

func newScrubber(c Config) scrubber {
	var s []string
	add := func(v string) {
		if len(v) >= 4 { // shorter strings would mangle ordinary text and are no secret anyway
			s = append(s, v)
		}
	}
	add(c.Token)
	if c.BasicAuth != nil {
		add(c.BasicAuth.Password)
	}
	for _, sec := range c.Secrets {
		add(sec)
		add(strings.TrimPrefix(sec, "whsec_"))
	}
	if u, err := url.Parse(c.URL); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return scrubber{secrets: s}
}

func (s scrubber) scrub(text string) string {
	for _, sec := range s.secrets {
		text = strings.ReplaceAll(text, sec, redacted)
	}
	return text
}

// secretHeader matches header names whose values are credentials, whatever
// sets them (the sink, Headers or MetadataHeaders).
var secretHeader = regexp.MustCompile(`(?i)authori[sz]ation|signature|token|secret|passw(or)?d|api[-_]?key|credential|cookie|^auth|session`)

// SecretHeader reports whether a header named name carries a credential by
// its name (Authorization, X-Api-Key, …): its value is never shown.
func SecretHeader(name string) bool { return secretHeader.MatchString(name) }

// sentHeaders is what the delivery log keeps of a request's headers: one
// value per name (joined when repeated), with the signature, the token
// header, Authorization and every credential-looking header replaced, and
// any configured secret scrubbed from the rest (a metadata header may quote
// one).
func (p *Publisher) sentHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		if p.secretHeader(k) {
			out[k] = redacted
			continue
		}
		v := vs[0]
		if len(vs) > 1 {
			v = strings.Join(vs, ", ")
		}
		out[k] = p.scrub.scrub(v)
	}
	if p.urlAuth && out["Authorization"] == "" {
		out["Authorization"] = redacted // the client sets it from the URL's user info on a copy
	}
	return out
}

// secretHeader reports whether header k's value is a credential, matching
// each name once: a sink sends the same dozen names on every request.
func (p *Publisher) secretHeader(k string) bool {
	if v, ok := p.secretNames.Load(k); ok {
		return v.(bool)
	}
	secret := secretHeader.MatchString(k) || strings.EqualFold(k, p.cfg.TokenHeader)
	p.secretNames.Store(k, secret)
	return secret
}
