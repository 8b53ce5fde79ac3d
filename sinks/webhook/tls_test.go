package webhook_test

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestTLSVerifiedByDefault: a self-signed receiver is refused unless its
// certificate is trusted through Config.TLSConfig.
func TestTLSVerifiedByDefault(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p := newSink(t, webhook.Config{URL: srv.URL})
	err := p.Publish("tls", event("e", `{}`))
	if err == nil || !strings.Contains(err.Error(), "certificate") || middleware.IsPermanent(err) {
		t.Fatalf("untrusted certificate: %v, want a transient certificate error", err)
	}
	trusted := newSink(t, webhook.Config{URL: srv.URL, TLSConfig: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}})
	if err := trusted.Publish("tls", event("e", `{}`)); err != nil {
		t.Fatalf("trusted certificate: %v", err)
	}
}

// metricsText renders every metric of g, labels included.
func metricsText(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		b.WriteString(mf.GetName())
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				b.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
