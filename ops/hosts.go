package ops

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// hostGuard serves only requests whose Host is loopback ("localhost",
// "*.localhost", 127.0.0.0/8, ::1), an IP address, or one of allowed, and
// refuses state-changing requests whose Origin names another host.
//
// It stops DNS rebinding: a page on attacker.example whose name then
// resolves to 127.0.0.1 is, to the browser, same-origin with the console,
// so neither CORS nor Sec-Fetch-Site stop it from reading pages or posting
// forms; but its requests carry Host: attacker.example, which is not
// served. An IP address cannot be rebound (the browser's origin is the
// address itself), so any is served: off loopback the admin token guards.
// The cross-origin check (http.CrossOriginProtection) compares Origin with
// Host, which is then a host the operator chose.
type hostGuard struct {
	allowed map[string]bool
}

func newHostGuard(allowed []string) hostGuard {
	g := hostGuard{allowed: map[string]bool{}}
	for _, h := range allowed {
		g.allowed[normalHost(h)] = true
	}
	return g
}

// normalHost is host without port, brackets, trailing dot or case.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}

// ok reports whether host (a Host header or an Origin's host) is served.
func (g hostGuard) ok(host string) bool {
	h := normalHost(host)
	switch {
	case h == "":
		return false
	case h == "localhost", strings.HasSuffix(h, ".localhost"): // browsers resolve these to loopback themselves
		return true
	case net.ParseIP(h) != nil:
		return true
	}
	return g.allowed[h]
}

func (g hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.ok(r.Host) {
			http.Error(w, "misdirected request: host "+quoteHost(r.Host)+" is not served here; add it to the admin's allowed hosts (--admin-allowed-host) if it is yours",
				http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "null" && !safeMethod(r.Method) {
			if u, err := url.Parse(o); err != nil || !g.ok(u.Host) {
				http.Error(w, "forbidden: cross-origin request", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// quoteHost shows at most 100 bytes of an attacker's Host, quoted.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100]
	}
	return `"` + strings.ToValidUTF8(strings.ReplaceAll(h, `"`, `'`), "?") + `"`
}
