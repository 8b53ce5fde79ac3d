package socketio_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// benchEvents builds n distinct door events shaped like the seed's.
func benchEvents(n int) []any {
	evs := make([]any, n)
	at := time.Date(2023, 5, 4, 17, 59, 16, 0, time.UTC)
	for i := range evs {
		evs[i] = socketiotest.SampleEvent("door.request.allowed", socketiotest.Door{ID: i%64 + 1, Name: "Door"}, at.Add(time.Duration(i)*time.Millisecond), i)
	}
	return evs
}

// rawFrameRate is the baseline: a bare coder/websocket reader taking the same
// events off the same server, no parsing beyond counting frames.
func rawFrameRate(b *testing.B, srv *socketiotest.Server, url string, evs []any) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/socket.io/?EIO=3&transport=websocket", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	for i := 0; i < 2; i++ { // open, connect
		if _, _, err := conn.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := srv.WaitClients(ctx, "/", 1); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	go func() {
		for _, ev := range evs {
			srv.Emit("/", "door.request.allowed", ev)
		}
	}()
	for got := 0; got < len(evs); {
		_, data, err := conn.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(data) > 0 && data[0] == '4' {
			got++
		}
	}
	return float64(len(evs)) / time.Since(start).Seconds()
}

// BenchmarkSocketToPostgresTopic measures events/s from the socket through
// the real router into the Postgres topic (dedup + publish in one
// transaction per event), against the raw frame read rate of the same
// events in the same run.
func BenchmarkSocketToPostgresTopic(b *testing.B) {
	for _, inflight := range []int{1, 16} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			evs := benchEvents(b.N)

			rawSrv, rawURL := startServer(b, socketiotest.Config{PingInterval: time.Second, PingTimeout: 5 * time.Second})
			raw := rawFrameRate(b, rawSrv, rawURL, evs)

			pool := pgtest.NewPool(b)
			srv, url := startServer(b, socketiotest.Config{PingInterval: time.Second, PingTimeout: 5 * time.Second})
			cfg := fastSocket(fmt.Sprintf("bench-%d", inflight), url)
			sub, err := socketio.NewSubscriber(socketio.Config{Socket: cfg, MaxInFlight: inflight, MaxPending: b.N + inflight}, nil)
			if err != nil {
				b.Fatal(err)
			}
			r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
				Name:    "bench",
				Sources: []router.Source{{Name: "panel", Subscriber: sub}},
				Sinks:   []router.Sink{{Name: "noop", Publisher: &countingSink{got: map[string]int{}}}},
			})
			if err != nil {
				b.Fatal(err)
			}
			runRouter(b, r)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := srv.WaitClients(ctx, "/", 1); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			go func() {
				for _, ev := range evs {
					srv.Emit("/", "door.request.allowed", ev)
				}
			}()
			deadline := time.Now().Add(5 * time.Minute)
			for topicRows(b, pool, "bench") < b.N {
				if time.Now().After(deadline) {
					b.Fatalf("only %d of %d events stored", topicRows(b, pool, "bench"), b.N)
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			rate := float64(b.N) / elapsed.Seconds()
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(raw, "raw_frames/s")
			b.ReportMetric(rate/raw, "ratio")
		})
	}
}
