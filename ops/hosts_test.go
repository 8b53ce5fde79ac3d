package ops_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/router"
)

// adminServer serves an admin handler for cfg and returns its URL.
func adminServer(t *testing.T, cfg ops.AdminConfig) string {
	t.Helper()
	adm, err := ops.NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// hostRequest is request with a Host header and h's other headers.
func hostRequest(t *testing.T, base, method, path, host string, h map[string]string, form url.Values) (int, string, http.Header) {
	t.Helper()
	hh := map[string]string{"Host": host}
	for k, v := range h {
		hh[k] = v
	}
	return request(t, base, method, path, hh, form)
}

// TestConsoleRefusesRebinding: without an admin token (the loopback
// default), a request whose Host is a name that was rebound to 127.0.0.1
// reads no page and changes nothing, even with the right form token and
// Sec-Fetch-Site: same-origin (which is what the browser sends then);
// loopback names, IP addresses and the configured allowed hosts are served;
// a POST whose Origin is another host is refused whatever its Host.
func TestConsoleRefusesRebinding(t *testing.T) {
	t.Parallel()
	pool, infos, allow := pipelineWithPoison(t)
	base := adminServer(t, ops.AdminConfig{Pool: pool, Pipelines: infos, AllowedHosts: []string{"Console.Example.com"}})
	port := base[strings.LastIndex(base, ":")+1:]
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "127.0.0.1.nip.io:" + port, "localhost.attacker.example"} {
		code, page, _ := hostRequest(t, base, "GET", "/", host, nil, nil)
		if code != http.StatusMisdirectedRequest || strings.Contains(page, "adm-000002") || csrfField.MatchString(page) {
			t.Errorf("Host %q: %d, want 421 and no page", host, code)
		}
	}
	var csrf, path string
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST.", "[::1]:" + port, "console.example.com:" + port, "10.1.2.3"} {
		code, page, _ := hostRequest(t, base, "GET", "/", host, nil, nil)
		m := csrfField.FindStringSubmatch(page)
		if code != 200 || m == nil {
			t.Fatalf("Host %q: %d, want the page", host, code)
		}
		csrf = m[1]
		path = "/poison/" + regexp.MustCompile(`action="/poison/(\d+)/replay"`).FindStringSubmatch(page)[1] + "/replay"
	}
	allow.Store(true) // a replay that went through would empty the poison queue
	rebound := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://attacker.example:" + port}
	if code, _, _ := hostRequest(t, base, "POST", path, "attacker.example:"+port, rebound, url.Values{"csrf": {csrf}}); code != http.StatusMisdirectedRequest {
		t.Errorf("rebound replay: %d, want 421", code)
	}
	foreign := map[string]string{"Origin": "http://attacker.example"}
	if code, _, _ := hostRequest(t, base, "POST", path, "127.0.0.1:"+port, foreign, url.Values{"csrf": {csrf}}); code != http.StatusForbidden {
		t.Errorf("replay from a foreign origin: %d, want 403", code)
	}
	if n, _ := router.NewPoisonQueue(pool).Count(context.Background(), router.PoisonFilter{}); n != 1 {
		t.Fatalf("a refused request replayed the message (%d left)", n)
	}
	own := map[string]string{"Origin": "http://127.0.0.1:" + port}
	if code, _, _ := hostRequest(t, base, "POST", path, "127.0.0.1:"+port, own, url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Errorf("replay from the page itself: %d, want 303", code)
	}
}

// TestFlashIsSigned: a page shows the flash message a redirect of its own
// set, and not one a link from elsewhere puts in ?flash=.
func TestFlashIsSigned(t *testing.T) {
	t.Parallel()
	pool, infos, _ := pipelineWithPoison(t)
	base := adminServer(t, ops.AdminConfig{Pool: pool, Pipelines: infos, Token: "s3cret"})
	bearer := map[string]string{"Authorization": "Bearer s3cret"}
	const forged = "Your session expired: log in at evil.example"
	for _, p := range []string{"/", "/events", "/endpoints"} {
		for _, q := range []string{"?flash=" + url.QueryEscape(forged), "?flash=" + url.QueryEscape(forged) + "&fs=00"} {
			if code, page, _ := request(t, base, "GET", p+q, bearer, nil); code != 200 || strings.Contains(page, "evil.example") {
				t.Errorf("GET %s%s: %d, shows the forged flash: %v", p, q, code, strings.Contains(page, "evil.example"))
			}
		}
	}
	_, page, _ := request(t, base, "GET", "/", bearer, nil)
	path := "/poison/" + regexp.MustCompile(`action="/poison/(\d+)/replay"`).FindStringSubmatch(page)[1] + "/replay"
	code, _, h := request(t, base, "POST", path, bearer, url.Values{"csrf": {csrfField.FindStringSubmatch(page)[1]}})
	if code != http.StatusSeeOther {
		t.Fatalf("replay: %d", code)
	}
	if _, page, _ := request(t, base, "GET", h.Get("Location"), bearer, nil); !strings.Contains(page, "Replayed poison message") {
		t.Fatalf("the page after a replay lacks its flash")
	}
}

// TestAdminTokenSchemeIsCaseInsensitive: "Authorization: bearer <token>"
// is accepted (the scheme is case-insensitive), a wrong token is not.
func TestAdminTokenSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	pool, infos, _ := pipelineWithPoison(t)
	base := adminServer(t, ops.AdminConfig{Pool: pool, Pipelines: infos, Token: "s3cret"})
	for _, tt := range []struct {
		auth string
		want int
	}{{"Bearer s3cret", 200}, {"bearer s3cret", 200}, {"BEARER s3cret", 200}, {"bearer S3CRET", 401}, {"Basic s3cret", 401}} {
		if code, _, _ := request(t, base, "GET", "/", map[string]string{"Authorization": tt.auth}, nil); code != tt.want {
			t.Errorf("Authorization %q: %d, want %d", tt.auth, code, tt.want)
		}
	}
}
