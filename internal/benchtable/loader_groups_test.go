package benchtable_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/router"
)

// The group rows through the pipeline-file loader: etagpoll sources reading
// an event log in pages, and batchfeed sources reading a batch feed, built
// as the binary builds them (config.Load, Config.Build, the file's backend,
// leadership on Postgres) from a YAML file that names them and a webhook
// sink, against loopback fakes of the two providers in this process.

// loaderPageSize is the events per page the fake event log serves (the
// etagpoll source's default page size); the source hands a window on in
// groups of up to 500, oldest first.
const loaderPageSize = 100

// loaderBatchSize is the notifications per batch the fake feed serves: the
// batch-feed protocol allows at most batchfeed.MaxBatchSize (10), and the
// source refuses a bigger batch as invalid, so its groups are of 10.
const loaderBatchSize = 10

// loaderGroups runs n events from `sources` sources of kind ("etagpoll" or
// "batchfeed"), built from a pipeline file by the loader, through the
// file's webhook sink (16 deliveries at once) to the table's receiver, on
// a fresh database of s.
func loaderGroups(b *testing.B, s *server, kind string, n, sources int) cost {
	return runCost(b, s, func(pool *pgxpool.Pool) (int, time.Duration, *procCost) {
		per := n / sources
		recv := newReceiver(per * sources)
		hooks := httptest.NewServer(recv)
		defer hooks.Close()
		var api http.Handler
		switch kind {
		case "etagpoll":
			api = newEventLog(sources, per)
		case "batchfeed":
			api = newBatchFeed(sources, per)
		default:
			b.Fatalf("unknown kind %q", kind)
		}
		provider := httptest.NewServer(api)
		defer provider.Close()

		var file strings.Builder
		file.WriteString("pipelines:\n  - name: groups\n    sources:\n")
		for i := range sources {
			switch kind {
			case "etagpoll":
				// One poll reads the whole log: a long interval and no
				// jitter, so the first poll starts at once and the next
				// (which would re-read the overlap) comes after the run.
				fmt.Fprintf(&file, "      - {name: log-%d, type: etagpoll, options: {base_url: %q, path: /s%d/eventlogs, paging: page, interval: 10m, jitter: -1}}\n",
					i, provider.URL, i)
			case "batchfeed":
				fmt.Fprintf(&file, "      - {name: feed-%d, type: batchfeed, options: {base_url: %q, feed_id: f%d, auth: {token: bench}}}\n",
					i, provider.URL, i)
			}
		}
		// The table's other rows run the sink without the delivery log.
		fmt.Fprintf(&file, "    sinks:\n      - name: hook\n        type: webhook\n        concurrency: 16\n        options: {url: %q, secrets: [%q], token: bench-token, "+
			"allow_private_networks: true, max_in_flight: 64, delivery_log: false}\n", hooks.URL, secret)
		cfg, err := config.Load("groups.yaml", []byte(file.String()), nil)
		if err != nil {
			b.Fatal(err)
		}
		// As the binary runs a file: its backend, leadership, the sink's
		// concurrency from the file.
		r, err := cfg.NewRouter(pool, router.Config{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- r.Run(ctx) }()
		select {
		case <-recv.done:
		case err := <-done:
			b.Fatalf("router stopped before delivering everything: %v", err)
		case <-time.After(10 * time.Minute):
			b.Fatal("pipeline did not deliver everything in 10 minutes")
		}
		took := time.Since(start)
		cancel()
		<-done
		return recv.want, took, nil
	})
}

// eventLog is a fake ETag event log, one per source under /s{i}/eventlogs:
// one ETag for its life (nothing is added during a run), 304 to a matching
// If-None-Match, createdAt filtering on startDate, newest first, page-number
// paging of loaderPageSize. Each event's JSON is encoded once up front, so
// serving a page is a copy and the fake adds little to the measured CPU.
type eventLog struct {
	logs []*fakeLog
}

type fakeLog struct {
	created []time.Time // newest first
	encoded [][]byte    // parallel to created
}

const eventLogETag = `W/"bench"`

func newEventLog(sources, per int) *eventLog {
	// Every event is within the source's default 5-minute overlap of now,
	// so a source without checkpoint reads them all, 1 ms or less apart.
	step := min(time.Millisecond, 2*time.Minute/time.Duration(max(per, 1)))
	base := time.Now().Add(-3 * time.Minute).UTC()
	l := &eventLog{}
	for s := range sources {
		f := &fakeLog{}
		for i := per - 1; i >= 0; i-- {
			at := base.Add(time.Duration(i) * step)
			f.created = append(f.created, at)
			f.encoded = append(f.encoded, fmt.Appendf(nil, `{"id":"ep-%d-%07d","type":"door.request.allowed","createdAt":%q,"timestamp":%q,"door":"front"}`,
				s, i, at.Format(time.RFC3339Nano), at.Add(-time.Second).Format(time.RFC3339Nano)))
		}
		l.logs = append(l.logs, f)
	}
	return l
}

func (l *eventLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var s int
	if _, err := fmt.Sscanf(r.URL.Path, "/s%d/eventlogs", &s); err != nil || s < 0 || s >= len(l.logs) {
		http.NotFound(w, r)
		return
	}
	f := l.logs[s]
	w.Header().Set("ETag", eventLogETag)
	if r.Header.Get("If-None-Match") == eventLogETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	q := r.URL.Query()
	count := len(f.created) // events at or after startDate: a prefix, newest first
	if v := q.Get("startDate"); v != "" {
		since, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			http.Error(w, `{"error":"bad startDate"}`, http.StatusBadRequest)
			return
		}
		count = sort.Search(len(f.created), func(i int) bool { return f.created[i].Before(since) })
	}
	size := loaderPageSize
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 && v < size {
		size = v
	}
	page := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	lo := min((page-1)*size, count)
	hi := min(lo+size, count)
	var body bytes.Buffer
	body.WriteByte('[')
	for i, e := range f.encoded[lo:hi] {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(e)
	}
	body.WriteByte(']')
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body.Bytes())
}

// batchFeed is a fake batch feed, one feed f{i} per source under
// /eventnotifications/v2/: next serves the feed's current batch (the same
// one until it is completed) or 204 when the feed is empty; complete of the
// current batch moves on, of any other one is a 404. Batches are encoded
// up front.
type batchFeed struct {
	feeds []*fakeFeed
}

type fakeFeed struct {
	mu      sync.Mutex
	batches [][]byte
	ids     []string
	next    int
}

func newBatchFeed(sources, per int) *batchFeed {
	bf := &batchFeed{}
	for s := range sources {
		f := &fakeFeed{}
		for lo := 0; lo < per; lo += loaderBatchSize {
			hi := min(lo+loaderBatchSize, per)
			id := fmt.Sprintf("%d-%07d", s, lo)
			var body bytes.Buffer
			fmt.Fprintf(&body, `{"batchId":%q,"notifications":[`, id)
			for i := lo; i < hi; i++ {
				if i > lo {
					body.WriteByte(',')
				}
				fmt.Fprintf(&body, `{"id":"bf-%d-%07d","eventType":"journey:taskcompleted","when":"2026-01-23T08:13:56.8404437+00:00",`+
					`"tenantId":"bded51d4-598e-4079-9cf6-43e74144b415","relativeUrl":"journeyquery/api/journey-instance/%d","payload":{"TaskId":"t-%d"}}`,
					s, i, i, i)
			}
			fmt.Fprintf(&body, `],"moreAvailable":%t}`, hi < per)
			f.batches, f.ids = append(f.batches, body.Bytes()), append(f.ids, id)
		}
		bf.feeds = append(bf.feeds, f)
	}
	return bf
}

func (bf *batchFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/eventnotifications/v2/"), "/")
	var s int
	if _, err := fmt.Sscanf(parts[0], "f%d", &s); err != nil || s < 0 || s >= len(bf.feeds) {
		http.NotFound(w, r)
		return
	}
	f := bf.feeds[s]
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && len(parts) == 2 && parts[1] == "next":
		if f.next >= len(f.batches) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.batches[f.next])
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "complete":
		if f.next >= len(f.ids) || parts[1] != f.ids[f.next] {
			http.NotFound(w, r)
			return
		}
		f.next++
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

// BenchmarkLoaderGroups is the loader's group rows on their own:
// BENCH_EVENTS events (20,000) per run, 1 and 4 sources, on the durable
// cluster (BENCH_FAST=1: the fsync-off one). b.N is not used: run with
// -benchtime=1x.
func BenchmarkLoaderGroups(b *testing.B) {
	n := envInt("BENCH_EVENTS", 20000)
	dur, fst := servers(b)
	srv := dur
	if os.Getenv("BENCH_FAST") == "1" {
		srv = fst
	}
	for _, kind := range []string{"etagpoll", "batchfeed"} {
		b.Run(kind, func(b *testing.B) {
			for _, sources := range []int{1, 4} {
				b.Run(fmt.Sprintf("sources=%d", sources), func(b *testing.B) {
					c := loaderGroups(b, srv, kind, n, sources)
					b.Logf("%s, %d source(s), %s: %s", kind, sources, srv.name, c)
					b.ReportMetric(c.rate, "events/s")
					b.ReportMetric(float64(c.cpu.Microseconds()), "µs_cpu/event")
					b.ReportMetric(float64(c.pgCPU.Microseconds()), "µs_pg/event")
					b.ReportMetric(c.allocs, "allocs/event")
					b.ReportMetric(c.commits, "transactions/event")
					b.ReportMetric(c.syncs, "fsyncs/event")
				})
			}
		})
	}
}
