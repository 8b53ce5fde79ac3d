package webhook

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tributary-dev/tributary/internal/redact"
)

const redacted = "[redacted]"

// RedactURL is an endpoint URL as logs, the delivery log and operators see
// it: no user info, no fragment, and every query value replaced (receivers
// often take a key in the query string), keys sorted. Applied to its own
// output it changes nothing.
func RedactURL(raw string) string {
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

// scrubber removes known secrets, in every form a receiver may echo them
// (see internal/redact), from text bound for a log, an error or the delivery
// log (a receiver may echo a header back in its body).
type scrubber struct{ r redact.Replacer }

func newScrubber(c Config) scrubber {
	forms := [][]string{redact.Forms(c.Token), redact.URL(c.URL)}
	if c.BasicAuth != nil {
		forms = append(forms, redact.Basic(c.BasicAuth.Username, c.BasicAuth.Password))
	}
	for _, sec := range c.Secrets {
		forms = append(forms, redact.Forms(sec), redact.Forms(strings.TrimPrefix(sec, "whsec_")))
	}
	forms = append(forms, redact.Headers(c.Headers))
	return scrubber{r: redact.New(redacted, forms...)}
}

func (s scrubber) scrub(text string) string { return s.r.Replace(text) }

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
	secret := redact.SecretHeader.MatchString(k) || strings.EqualFold(k, p.cfg.TokenHeader)
	p.secretNames.Store(k, secret)
	return secret
}
