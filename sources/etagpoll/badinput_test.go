package etagpoll

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// TestBadInput serves each kind of bad answer twice, then good ones. Each
// must be logged as an error, counted under its kind, followed by another
// poll — and no checkpoint may cover an event that was not acked (checked on
// every save), and in the end every event arrives.
func TestBadInput(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	// Elsewhere is another host: a redirect there must not be followed.
	var elsewhereHits atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereHits.Add(1)
		_, _ = w.Write([]byte(`[]`))
	}))
	t.Cleanup(elsewhere.Close)
	serverDate := func(w http.ResponseWriter, d time.Duration) {
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("Retry-After", time.Now().Add(d).UTC().Format(http.TimeFormat))
	}
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Error(w, `{"error":"nope"}`, code) }
	}
	body := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(s)) }
	}
	tests := []struct {
		name        string
		step        string
		bad         http.HandlerFunc
		kind        string
		mod         func(*Config)
		waitAtLeast time.Duration
	}{
		{name: "non-JSON", step: "fetch", kind: "decode", bad: body(`<html><body>Bad gateway</body></html>`)},
		{name: "truncated JSON", step: "fetch", kind: "decode", bad: body(`[{"id":"x-1","createdAt":"2026-03-01T12:00:00Z"},{"id":"x-2","cr`)},
		{name: "connection cut mid-body", step: "fetch", kind: "truncated", bad: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "4000")
			_, _ = w.Write([]byte(`[{"id":"x-1","createdAt":"2026-`))
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}},
		{name: "body over the limit", step: "fetch", kind: "too_large", mod: func(c *Config) { c.MaxBodyBytes = 4096 },
			bad: body(`[` + strings.Repeat(`{"id":"pad","createdAt":"2026-03-01T12:00:00Z"},`, 200) + `{"id":"x"}]`)},
		{name: "missing id", step: "fetch", kind: "invalid_event", bad: body(`[{"type":"door","createdAt":"2026-03-01T12:00:00Z"}]`)},
		{name: "missing createdAt", step: "fetch", kind: "invalid_event", bad: body(`{"data":[{"id":"x-9"}]}`)},
		{name: "400 on fetch", step: "fetch", kind: "http_4xx", bad: status(400)},
		{name: "401 on probe", step: "probe", kind: "http_4xx", bad: status(401)},
		{name: "404 on probe", step: "probe", kind: "http_4xx", bad: status(404)},
		{name: "500 on fetch", step: "fetch", kind: "http_5xx", bad: status(500)},
		{name: "502 on probe", step: "probe", kind: "http_5xx", bad: status(502)},
		{name: "429 Retry-After seconds", step: "probe", kind: "rate_limited", waitAtLeast: 120 * time.Second, bad: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			status(429)(w, r)
		}},
		{name: "503 Retry-After date", step: "fetch", kind: "unavailable", waitAtLeast: 199 * time.Second, bad: func(w http.ResponseWriter, r *http.Request) {
			serverDate(w, 200*time.Second)
			status(503)(w, r)
		}},
		{name: "timeout", step: "fetch", kind: "timeout", mod: func(c *Config) { c.RequestTimeout = 150 * time.Millisecond }, bad: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
		{name: "slow body timeout", step: "fetch", kind: "timeout", mod: func(c *Config) { c.RequestTimeout = 150 * time.Millisecond }, bad: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`[`))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
		{name: "redirect to another host on probe", step: "probe", kind: "redirect", bad: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusFound)
		}},
		{name: "redirect to another host on fetch", step: "fetch", kind: "redirect", bad: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("bad-%02d", i)
			api := newFakeAPI(t)
			api.maxPage = 4
			store := &savingStore{Store: checkpoint.NewStore(pool)}
			src, clk, log := newTestSource(t, api, store, name, func(c *Config) {
				c.AuthHeader, c.AuthValue = "X-Api-Key", "s3cr3t-key"
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			c := collect(t, src, false)
			store.checkNoLoss(t, api, c)
			started(t, store)
			want := api.add(3)
			pipelinetest.WaitFor(t, 10*time.Second, "the first events", func() bool { return c.has(want) })

			errs := src.m.Errors(tc.kind)
			errs0 := counterValue(errs)
			api.setIntercept(failFirst(tc.step, 2, tc.bad))
			want = append(want, api.add(9)...) // more than two pages
			// A poll already past its probe may re-read the window (the cursor
			// moved less than the overlap ago) and fetch the new events before
			// the bad answers come: wait for both.
			pipelinetest.WaitFor(t, 20*time.Second, "every event, and the bad answers", func() bool {
				return c.has(want) && counterValue(errs)-errs0 >= 2
			})
			if got := counterValue(errs) - errs0; got != 2 {
				t.Errorf("tributary_source_errors_total{kind=%q} = %v, want 2", tc.kind, got)
			}
			logged := log.Lines("ERROR")
			if len(logged) != 2 || !strings.Contains(logged[0], "kind:"+tc.kind) {
				t.Errorf("want 2 logged errors of kind %s, got %q", tc.kind, logged)
			}
			if strings.Contains(log.String(), "s3cr3t") {
				t.Error("the API key appears in the logs")
			}
			if elsewhereHits.Load() != 0 {
				t.Error("a redirect to another host was followed")
			}
			if tc.waitAtLeast > 0 {
				ok := false
				for _, d := range clk.recorded() {
					ok = ok || d >= tc.waitAtLeast
				}
				if !ok {
					t.Errorf("no wait of at least %s after Retry-After; waits %v", tc.waitAtLeast, clk.recorded())
				}
			}
			// The source carried on: the cursor reached the newest event.
			last := store.saved()[len(store.saved())-1]
			newest := findEvent(api, want[len(want)-1])
			pipelinetest.WaitFor(t, 10*time.Second, "the cursor to reach the newest event", func() bool {
				last = store.saved()[len(store.saved())-1]
				return last.Cursor.Equal(newest.CreatedAt.UTC())
			})
		})
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
