package batchfeed

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
)

// counter reads one child of a counter vector.
func counter(t testing.TB, v *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// testMetrics is where startPipeline's routers register (every test names
// its pipeline apart).
var testMetrics = prometheus.NewRegistry()

// counterDelta returns how much a counter of testMetrics has grown since the
// call, for the source named "<pipeline>-<feed>" and, when given, the kind
// of error (-count=N reruns tests on the same registry).
func counterDelta(t testing.TB, name, source string, kind ...string) func() float64 {
	t.Helper()
	i := strings.LastIndex(source, "-")
	kv := []string{"pipeline", source[:i], "source", source[i+1:]}
	if len(kind) > 0 {
		kv = append(kv, "kind", kind[0])
	}
	start := pipelinetest.MetricValue(t, testMetrics, name, kv...)
	return func() float64 { return pipelinetest.MetricValue(t, testMetrics, name, kv...) - start }
}

func fakeServer(t testing.TB, cfg feedfake.Config) (*feedfake.Fake, *httptest.Server) {
	t.Helper()
	f := feedfake.New(cfg)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func testClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNextOnWrongCaseFeedIsAConfigError(t *testing.T) {
	t.Parallel()
	f, srv := fakeServer(t, feedfake.Config{})
	f.Generate("journey", 3)
	// The Client lets the id through (the Source refuses it up front), so
	// this is the provider's own answer to a wrong case.
	c := newClient(Config{BaseURL: srv.URL, FeedID: "Journey"}, nil)
	c.cfg.setDefaults()
	_, err := c.Next(context.Background())
	var nf *FeedNotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, ErrConfig) {
		t.Fatalf("got %v; want a *FeedNotFoundError matching ErrConfig", err)
	}
	for _, want := range []string{`feed "Journey" not found (404)`, `case-sensitive, did you mean "journey"?`, "valid: journey, entitydata, document, screening, digitalidv, association", "traceId |"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := f.Calls("Journey", feedfake.OpNext); n != 1 {
		t.Fatalf("%d requests for Journey, want 1", n)
	}
	if _, err := NewSource(Config{BaseURL: srv.URL, FeedID: "Journey"}, nil); err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `did you mean "journey"`) {
		t.Fatalf("NewSource with a wrong-case id: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	f, srv := fakeServer(t, feedfake.Config{})
	c := testClient(t, Config{BaseURL: srv.URL, FeedID: "document", RequestTimeout: 200 * time.Millisecond})
	ctx := context.Background()

	f.Script("document", feedfake.OpNext, &feedfake.Fault{Hang: true}, &feedfake.Fault{Status: 503, Body: []byte("busy")},
		&feedfake.Fault{Status: 400, Body: []byte(`{"title":"Bad Request"}`)}, &feedfake.Fault{Body: []byte(`{"batchId":`)})
	for _, want := range []struct{ kind, text string }{
		{"timeout", "no answer within 200ms"},
		{"status_5xx", "HTTP 503: busy"},
		{"status_4xx", "HTTP 400"},
		{"invalid_batch", "malformed JSON"},
	} {
		_, err := c.Next(ctx)
		if err == nil || errorKind(err) != want.kind || !strings.Contains(err.Error(), want.text) {
			t.Fatalf("got %v (kind %s); want kind %s with %q", err, errorKind(err), want.kind, want.text)
		}
	}
	if b, err := c.Next(ctx); b != nil || err != nil {
		t.Fatalf("empty feed: got %v, %v; want nil, nil (204)", b, err)
	}

	f.Generate("document", 2)
	b, err := c.Next(ctx)
	if err != nil || len(b.Notifications) != 2 {
		t.Fatalf("next: %v, %v", b, err)
	}
	if err := c.Complete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Complete(ctx, b.ID); !errors.Is(err, ErrBatchNotFound) {
		t.Fatalf("second complete: %v; want ErrBatchNotFound", err)
	}
}

func TestTenantHeaderAndStaticToken(t *testing.T) {
	t.Parallel()
	f, srv := fakeServer(t, feedfake.Config{
		Authorize:    func(tok string) bool { return tok == "s3cret-token" },
		TenantHeader: "X-Fen-Tenant", TenantID: "tenant-1",
	})
	f.Generate("screening", 1)
	ctx := context.Background()
	cases := []struct {
		name string
		cfg  Config
		kind string
	}{
		{"no token", Config{TenantHeader: "X-Fen-Tenant", TenantID: "tenant-1"}, "auth"},
		{"wrong token", Config{TokenSource: StaticToken("nope"), TenantHeader: "X-Fen-Tenant", TenantID: "tenant-1"}, "auth"},
		{"default tenant header", Config{TokenSource: StaticToken("s3cret-token"), TenantID: "tenant-1"}, "auth"},
		{"right", Config{TokenSource: StaticToken("s3cret-token"), TenantHeader: "X-Fen-Tenant", TenantID: "tenant-1"}, ""},
	}
	for _, tc := range cases {
		tc.cfg.BaseURL, tc.cfg.FeedID = srv.URL, "screening"
		_, err := testClient(t, tc.cfg).Next(ctx)
		if tc.kind == "" {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || errorKind(err) != tc.kind {
			t.Fatalf("%s: got %v; want a %s error", tc.name, err, tc.kind)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("%s: error leaks the token: %v", tc.name, err)
		}
	}
	if f.Denied() != 3 {
		t.Fatalf("fake denied %d requests, want 3", f.Denied())
	}
}

func TestOAuth2ClientCredentialsRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	issuer := feedfake.NewTokenIssuer("tributary", "client-s3cret", 2*time.Second)
	tokSrv := httptest.NewServer(issuer)
	t.Cleanup(tokSrv.Close)
	f, srv := fakeServer(t, feedfake.Config{Authorize: issuer.Valid})
	f.Generate("journey", 1)

	cc := clientcredentials.Config{ClientID: "tributary", ClientSecret: "client-s3cret", TokenURL: tokSrv.URL}
	// Tokens live 2 s; refreshing 1.5 s early means a new one every 0.5 s,
	// so ~1.6 s of polling needs at least three, and the feed never sees an
	// expired one.
	c := testClient(t, Config{BaseURL: srv.URL, FeedID: "journey",
		TokenSource: ClientCredentials(context.Background(), cc, 1500*time.Millisecond)})
	deadline := time.Now().Add(1600 * time.Millisecond)
	calls := 0
	for time.Now().Before(deadline) {
		if _, err := c.Next(context.Background()); err != nil {
			t.Fatalf("call %d: %v", calls, err)
		}
		calls++
		time.Sleep(50 * time.Millisecond)
	}
	if issuer.Issued() < 3 || issuer.Issued() > calls/2 {
		t.Fatalf("%d tokens for %d calls; want a refresh about every 0.5 s, reused in between", issuer.Issued(), calls)
	}
	if f.Denied() != 0 {
		t.Fatalf("the feed refused %d requests: a token was used past its expiry", f.Denied())
	}

	bad := cc
	bad.ClientSecret = "wrong-s3cret"
	_, err := testClient(t, Config{BaseURL: srv.URL, FeedID: "journey",
		TokenSource: ClientCredentials(context.Background(), bad, time.Second)}).Next(context.Background())
	if err == nil || errorKind(err) != "auth" || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("wrong client secret: %v; want an auth error that does not print the secret", err)
	}
}

func TestRevokedTokenIsReplaced(t *testing.T) {
	t.Parallel()
	issuer := feedfake.NewTokenIssuer("tributary", "client-s3cret", time.Hour)
	tokSrv := httptest.NewServer(issuer)
	t.Cleanup(tokSrv.Close)
	f, srv := fakeServer(t, feedfake.Config{Authorize: issuer.Valid})
	cc := clientcredentials.Config{ClientID: "tributary", ClientSecret: "client-s3cret", TokenURL: tokSrv.URL}
	c := testClient(t, Config{BaseURL: srv.URL, FeedID: "journey",
		TokenSource: ClientCredentials(context.Background(), cc, time.Minute)})
	for range 3 {
		if _, err := c.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// A token revoked before its expiry: one 401, then a new token.
	issued := issuer.Issued()
	issuer.RevokeAll()
	if _, err := c.Next(context.Background()); err == nil || errorKind(err) != "auth" {
		t.Fatalf("with a revoked token: %v; want a 401", err)
	}
	if _, err := c.Next(context.Background()); err != nil {
		t.Fatalf("after a 401: %v; want a new token to be fetched", err)
	}
	if issued != 1 || issuer.Issued() != issued+1 || f.Denied() != 1 {
		t.Fatalf("tokens issued %d before and %d after the revocation, %d refused; want 1, 1 and 1", issued, issuer.Issued()-issued, f.Denied())
	}
}

func TestDiscardAllNeedsConfirmationAndIsLogged(t *testing.T) {
	t.Parallel()
	f, srv := fakeServer(t, feedfake.Config{})
	f.Generate("association", 25)
	logs := watermill.NewCaptureLogger()
	c, err := NewClient(Config{BaseURL: srv.URL, FeedID: "association", Name: "assoc-discard"}, logs)
	if err != nil {
		t.Fatal(err)
	}
	refusedN := func() float64 { return counter(t, c.metrics.Load().discards, "refused") }
	doneN := func() float64 { return counter(t, c.metrics.Load().discards, "done") }
	ctx := context.Background()
	if err := c.DiscardAll(ctx, DiscardAllOptions{Reason: "change window"}); !errors.Is(err, ErrNotConfirmed) {
		t.Fatalf("unconfirmed discardAll: %v; want ErrNotConfirmed", err)
	}
	if f.Calls("association", feedfake.OpDiscardAll) != 0 || f.Pending("association") != 25 {
		t.Fatal("an unconfirmed discardAll reached the feed")
	}
	if err := c.DiscardAll(ctx, DiscardAllOptions{Confirm: true, Reason: "change window", Operator: "ops@example"}); err != nil {
		t.Fatal(err)
	}
	if f.Pending("association") != 0 || f.Discarded("association") != 25 {
		t.Fatalf("after discardAll: %d pending, %d discarded", f.Pending("association"), f.Discarded("association"))
	}
	var refused, started, done bool
	for _, m := range logs.Captured()[watermill.ErrorLogLevel] {
		refused = refused || strings.Contains(m.Msg, "discardAll refused") && m.Fields["feed"] == "association"
	}
	for _, m := range logs.Captured()[watermill.InfoLogLevel] {
		started = started || strings.Contains(m.Msg, "discardAll: emptying") && m.Fields["operator"] == "ops@example" && m.Fields["reason"] == "change window"
		done = done || strings.Contains(m.Msg, "discardAll done")
	}
	if !refused || !started || !done {
		t.Fatalf("log: refused %v, started %v, done %v; want all three", refused, started, done)
	}
	if refusedN() != 1 || doneN() != 1 {
		t.Fatal("discardAll metrics not counted")
	}
}
