package webhook_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// benchPayload is a ~450-byte JSON event.
var benchPayload = append(append([]byte(`[`), bytes.Repeat([]byte(`{"door":"front","user":"u_123","ok":true},`), 10)...), `{}]`...)

func benchReceiver(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// parallel runs n calls of fn over g goroutines and returns calls per second.
func parallel(b *testing.B, n, g int, fn func(i int) error) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// benchRounds: each benchmark measures its two sides this many times,
// alternating which goes first, and compares the medians, so that load from
// elsewhere on the machine hits both sides alike.
const benchRounds = 5

// interleaved returns the medians of a and b over benchRounds alternating rounds.
func interleaved(a, b func() float64) (float64, float64) {
	var as, bs []float64
	for i := range benchRounds {
		if i%2 == 0 {
			as, bs = append(as, a()), append(bs, b())
		} else {
			bs, as = append(bs, b()), append(as, a())
		}
	}
	return median(as), median(bs)
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// BenchmarkSinkVsBareClient measures deliveries/s through the sink (signed,
// token, breaker, in-flight limit, no delivery log) and a bare net/http
// client loop posting the same body to the same receiver, in the same run;
// ratio = sink/bare.
func BenchmarkSinkVsBareClient(b *testing.B) {
	for _, g := range []int{1, 8} {
		b.Run("goroutines="+strconv.Itoa(g), func(b *testing.B) {
			srv := benchReceiver(b)
			p := newSink(b, webhook.Config{URL: srv.URL, Token: "bench-token", Secrets: []string{secretA}, MaxInFlight: 8})
			bare := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			b.Cleanup(bare.CloseIdleConnections)
			b.ResetTimer()
			sinkRun := func() float64 {
				return parallel(b, b.N, g, func(i int) error {
					return p.Publish("bench", event("e-"+strconv.Itoa(i), string(benchPayload)))
				})
			}
			bareRun := func() float64 {
				return parallel(b, b.N, g, func(int) error {
					req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(benchPayload))
					req.Header.Set("Content-Type", "application/json")
					resp, err := bare.Do(req)
					if err != nil {
						return err
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					return resp.Body.Close()
				})
			}
			sink, raw := interleaved(sinkRun, bareRun)
			b.ReportMetric(sink, "sink_deliveries/s")
			b.ReportMetric(raw, "bare_requests/s")
			b.ReportMetric(sink/raw, "ratio")
		})
	}
}

// BenchmarkDeadEndpointIsolation measures a healthy endpoint's deliveries/s
// alone, then with a dead endpoint beside it in the same process being
// hammered by as many goroutines; ratio = with/without (1 = no harm).
// "hang" never answers (1 s timeout); "refused" refuses connections. The
// dead endpoint is driven as the router drives a sink: one consumer
// (deadDrivers) delivering message after message, each failure followed by
// ~1 ms standing in for the requeue transaction. BenchmarkRouterDeadEndpoint
// Isolation measures the same through the real router, with no stand-in.
func BenchmarkDeadEndpointIsolation(b *testing.B) {
	const deadDrivers = 1
	refused := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return "http://" + l.Addr().String()
	}()
	hang := func(b *testing.B) string {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		b.Cleanup(func() { close(release); srv.Close() })
		return srv.URL
	}
	for _, tc := range []struct {
		name    string
		url     func(*testing.B) string
		breaker bool
	}{
		{"hang/breaker", hang, true},
		{"hang/no-breaker", hang, false},
		{"refused/breaker", func(*testing.B) string { return refused }, true},
		{"refused/no-breaker", func(*testing.B) string { return refused }, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const g = 8
			srv := benchReceiver(b)
			healthy := newSink(b, webhook.Config{URL: srv.URL, Secrets: []string{secretA}, MaxInFlight: g})
			dead := newSink(b, webhook.Config{URL: tc.url(b), Secrets: []string{secretA}, MaxInFlight: g,
				Timeout: time.Second, Breaker: webhook.BreakerConfig{Disabled: !tc.breaker, Cooldown: 100 * time.Millisecond}})
			deliver := func(p *webhook.Publisher) func(int) error {
				return func(i int) error {
					return p.Publish("bench", event("e-"+strconv.Itoa(i), string(benchPayload)))
				}
			}
			parallel(b, 500, g, deliver(healthy)) // warm the connections
			b.ResetTimer()
			aloneRun := func() float64 { return parallel(b, b.N, g, deliver(healthy)) }
			besideRun := func() float64 {
				ctx, stop := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				for range deadDrivers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; ctx.Err() == nil; i++ {
							m := event("d-"+strconv.Itoa(i), string(benchPayload))
							m.SetContext(ctx)
							if dead.Publish("dead", m) != nil {
								// The router follows each failure with a requeue
								// transaction (~1 ms here); a bare spin would only
								// measure one goroutine eating a core of two.
								time.Sleep(time.Millisecond)
							}
						}
					}()
				}
				time.Sleep(20 * time.Millisecond) // let the dead endpoint fill its slots
				rate := parallel(b, b.N, g, deliver(healthy))
				stop()
				wg.Wait()
				return rate
			}
			alone, beside := interleaved(aloneRun, besideRun)
			b.StopTimer()
			b.ReportMetric(alone, "alone_deliveries/s")
			b.ReportMetric(beside, "beside_dead_deliveries/s")
			b.ReportMetric(beside/alone, "ratio")
		})
	}
}

// BenchmarkDeliveryLogCost measures deliveries/s through the sink without a
// delivery log and with the Postgres one (a synchronous INSERT per attempt),
// in the same run; ratio = with/without.
func BenchmarkDeliveryLogCost(b *testing.B) {
	srv := benchReceiver(b)
	pool := pgtest.NewPool(b)
	plain := newSink(b, webhook.Config{URL: srv.URL, Secrets: []string{secretA}})
	logged := newSink(b, webhook.Config{URL: srv.URL, Secrets: []string{secretA}, Log: webhook.NewPostgresLog(pool)})
	deliver := func(p *webhook.Publisher) func(int) error {
		return func(i int) error { return p.Publish("bench", event("e-"+strconv.Itoa(i), string(benchPayload))) }
	}
	b.ResetTimer()
	without, with := interleaved(
		func() float64 { return parallel(b, b.N, 8, deliver(plain)) },
		func() float64 { return parallel(b, b.N, 8, deliver(logged)) })
	b.ReportMetric(without, "no_log_deliveries/s")
	b.ReportMetric(with, "pg_log_deliveries/s")
	b.ReportMetric(with/without, "ratio")
}
