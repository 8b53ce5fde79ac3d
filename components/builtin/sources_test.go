package builtin_test

import (
	"context"
	"errors"
	"github.com/tributary-dev/tributary/tributarytest"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sources/batchfeed"
	"github.com/tributary-dev/tributary/sources/etagpoll"
)

// TestEtagpollFileDecodesIntoConfig: the options block decodes into
// etagpoll.Config itself (no options struct, no mapping): durations from
// strings, start_from from RFC 3339, maps for headers and query.
func TestEtagpollFileDecodesIntoConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("test.yaml", []byte(pipelineFile(`
      - name: log
        type: etagpoll
        options:
          base_url: https://api.example.com
          token: s3cret
          headers: { x-client: tributary }
          query: { site: "7" }
          paging: offset
          page_size: 50
          interval: 90s
          overlap: 1m
          start_from: "2026-01-02T03:04:05Z"
`, logSink)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Pipelines[0].SourceTypes[0].Options().(*etagpoll.Config)
	want := etagpoll.Config{
		BaseURL: "https://api.example.com", Token: "s3cret", Headers: map[string]string{"x-client": "tributary"},
		Query: map[string]string{"site": "7"}, Paging: etagpoll.Offset, PageSize: 50, Interval: 90 * time.Second,
		Overlap: time.Minute, StartFrom: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("decoded %+v\nwant    %+v", *got, want)
	}
}

func TestSourceOptionsValidateNameTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		opts components.Validator
		want []string // keys of the OptionErrors, in order
	}{
		{etagpoll.Config{}, []string{"base_url"}},
		{etagpoll.Config{BaseURL: "ftp://x", Paging: "cursor", Interval: -time.Second, Jitter: 1}, []string{"base_url", "paging", "jitter", "interval"}},
		{etagpoll.Config{BaseURL: "http://x", Token: "a", AuthHeader: "X-Api-Key", AuthValue: "b"}, []string{"token"}},
		{batchfeed.Config{}, []string{"base_url", "feed_id"}},
		{batchfeed.Config{BaseURL: "http://x", FeedID: "Journey"}, []string{"feed_id"}},
		{batchfeed.Config{BaseURL: "http://x", FeedID: "journey", Auth: batchfeed.Auth{Token: "t", OAuth2: &batchfeed.OAuth2{TokenURL: "/token"}}},
			[]string{"auth", "auth.oauth2.token_url", "auth.oauth2.client_id", "auth.oauth2.client_secret"}},
		{batchfeed.Config{BaseURL: "http://x", FeedID: "journey", Backoff: batchfeed.Backoff{Initial: time.Minute, Max: time.Second, Multiplier: 0.5}}, []string{"backoff.max", "backoff.multiplier"}},
	}
	for i, c := range cases {
		fields, rest := tributary.OptionErrors(c.opts.Validate())
		var keys []string
		for _, f := range fields {
			keys = append(keys, f.Key)
		}
		if len(rest) != 0 || strings.Join(keys, ",") != strings.Join(c.want, ",") {
			t.Errorf("case %d: field errors %v (other %v), want %v", i, fields, rest, c.want)
		}
	}
	ok := batchfeed.Config{BaseURL: "http://x", FeedID: "newfeed"} // undocumented feeds are let through
	if err := ok.Validate(); err != nil {
		t.Errorf("unknown feed id refused: %v", err)
	}
}

// TestBatchfeedDiscardAll builds the batchfeed type from the registry
// against internal/feedfake behind OAuth2: its Discarder honours the
// confirmation flag (nothing is sent without it) and empties the feed with it.
func TestBatchfeedDiscardAll(t *testing.T) {
	t.Parallel()
	issuer := feedfake.NewTokenIssuer("cid", "csecret", time.Hour)
	fake := feedfake.New(feedfake.Config{Authorize: issuer.Valid, TenantID: "t-1"})
	mux := http.NewServeMux()
	mux.Handle("/eventnotifications/v2/", fake)
	mux.Handle("/token", issuer)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fake.Generate("journey", 13)
	fake.Generate("document", 2)

	d, err := components.Decode(components.KindSource, "batchfeed", optionsFunc(func(v any) error {
		o := v.(*batchfeed.Config)
		o.BaseURL, o.FeedID, o.TenantID = srv.URL, "journey", "t-1"
		o.Auth.OAuth2 = &batchfeed.OAuth2{TokenURL: srv.URL + "/token", ClientID: "cid", ClientSecret: "csecret"}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := components.BuildSource(d, components.Env{Pipeline: "p", Name: "journey", Type: "batchfeed"})
	if err != nil {
		t.Fatal(err)
	}
	disc, ok := sub.(components.Discarder)
	if !ok {
		t.Fatalf("%T is not a Discarder", sub)
	}
	ctx := context.Background()
	if _, err := disc.DiscardAll(ctx, components.DiscardRequest{}); !errors.Is(err, batchfeed.ErrNotConfirmed) {
		t.Fatalf("unconfirmed discard: %v, want ErrNotConfirmed", err)
	}
	if fake.Calls("journey", feedfake.OpDiscardAll) != 0 || fake.Pending("journey") != 13 {
		t.Fatal("an unconfirmed discard reached the provider")
	}
	res, err := disc.DiscardAll(ctx, components.DiscardRequest{Confirm: true, Reason: "test", Operator: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != -1 || !strings.Contains(res.Detail, "journey") {
		t.Fatalf("result %+v", res)
	}
	if fake.Discarded("journey") != 13 || fake.Pending("journey") != 0 || fake.Pending("document") != 2 {
		t.Fatalf("discarded %d, pending journey %d document %d", fake.Discarded("journey"), fake.Pending("journey"), fake.Pending("document"))
	}
}

// TestEtagpollBuiltFromRegistry: the etagpoll type needs the pool (for its
// checkpoint), reads an event log and checkpoints under the pipeline's key.
func TestEtagpollBuiltFromRegistry(t *testing.T) {
	t.Parallel()
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Header().Set("ETag", `"1"`)
		if r.URL.Query().Get("page") == "2" {
			_, _ = w.Write([]byte(`[]`))
			return
		}
		_, _ = w.Write([]byte(`[{"id":"e1","type":"door.unlocked","createdAt":"2026-01-02T03:04:05.000Z"}]`))
	}))
	defer srv.Close()
	d, err := components.Decode(components.KindSource, "etagpoll", optionsFunc(func(v any) error {
		o := v.(*etagpoll.Config)
		o.BaseURL, o.Token, o.StartFrom, o.Interval, o.Jitter = srv.URL, "tok", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Millisecond, -1
		o.RedeliverDelay = 10 * time.Millisecond
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := components.BuildSource(d, components.Env{Pipeline: "p", Name: "log"}); err == nil {
		t.Fatal("built without a pool")
	}
	pool := pgtest.NewPool(t)
	sub, err := components.BuildSource(d, components.Env{Pipeline: "p", Name: "log", Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	run, err := tributarytest.Start(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	ch := run.Messages
	m := next(t, ch)
	if tributary.EventID(m) != "e1" || auth != "Bearer tok" {
		t.Fatalf("event %s, auth %q", tributary.EventID(m), auth)
	}
	m.Nack()
	m = next(t, ch)
	if tributary.EventID(m) != "e1" {
		t.Fatalf("resent %s, want e1", tributary.EventID(m))
	}
	m.Ack()
	var n int
	deadline := time.Now().Add(10 * time.Second)
	for n == 0 && time.Now().Before(deadline) {
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_checkpoints WHERE source = 'etagpoll/p/log' AND value->>'cursor' <> ''`).Scan(&n)
		time.Sleep(20 * time.Millisecond)
	}
	_ = run.Stop()
	if n != 1 {
		t.Fatal("no checkpoint under etagpoll/p/log")
	}
}

// TestEtagpollErrorsNameTheOption: the source's own errors, logged while it
// runs, name the option as written in the file (paging, max_pages), not the
// Go field behind it. The API here ignores "page", which the file insists on.
func TestEtagpollErrorsNameTheOption(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[{"id":"e2","createdAt":"2026-01-02T03:04:06.000Z"},{"id":"e1","createdAt":"2026-01-02T03:04:05.000Z"}]`))
	}))
	t.Cleanup(srv.Close)
	pool := pgtest.NewPool(t)
	for _, tc := range []struct {
		name     string
		set      func(*etagpoll.Config)
		key, not string
	}{
		{"paging", func(o *etagpoll.Config) { o.Paging = "page" }, "set paging to auto", "Config.Paging"},
		{"max_pages", func(o *etagpoll.Config) { o.Paging, o.MaxPages = "offset", 1 }, "(max_pages)", "MaxPages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := components.Decode(components.KindSource, "etagpoll", optionsFunc(func(v any) error {
				o := v.(*etagpoll.Config)
				o.BaseURL, o.StartFrom, o.Interval, o.Jitter = srv.URL, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Millisecond, -1
				tc.set(o)
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			log := &pipelinetest.Logger{}
			sub, err := components.BuildSource(d, components.Env{Pipeline: "p", Name: "names-" + tc.name, Pool: pool, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			run, err := tributarytest.Start(context.Background(), sub)
			if err != nil {
				t.Fatal(err)
			}
			defer run.Stop()
			pipelinetest.WaitFor(t, 10*time.Second, "a failed poll", func() bool { return len(log.Lines("ERROR")) > 0 })
			line := log.Lines("ERROR")[0]
			if !strings.Contains(line, tc.key) || strings.Contains(line, tc.not) {
				t.Fatalf("error %q: want it to name the option (%q), not the Go field", line, tc.key)
			}
		})
	}
}

// TestProviderSourcesStopAndStartAgain: built from the registry, both
// types stop when their context ends (stopped(nil)), and start again after
// that, as leadership coming back does.
func TestProviderSourcesStopAndStartAgain(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	pool := pgtest.NewPool(t)
	for _, typ := range []string{"etagpoll", "batchfeed"} {
		d, err := components.Decode(components.KindSource, typ, optionsFunc(func(v any) error {
			switch o := v.(type) {
			case *etagpoll.Config:
				o.BaseURL, o.Interval = srv.URL, 10*time.Millisecond
			case *batchfeed.Config:
				o.BaseURL, o.FeedID, o.PollInterval = srv.URL, "journey", 10*time.Millisecond
			}
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		src, err := components.BuildSource(d, components.Env{Pipeline: "p", Name: "s-" + typ, Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			run, err := tributarytest.Start(context.Background(), src)
			if err != nil {
				t.Fatalf("%s: start %d: %v", typ, round+1, err)
			}
			time.Sleep(30 * time.Millisecond)
			stopped := make(chan error, 1)
			go func() { stopped <- run.Stop() }()
			select {
			case err := <-stopped:
				if err != nil {
					t.Errorf("%s: stopped with %v, want nil", typ, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: did not stop", typ)
			}
		}
	}
}
