package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
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

// memorySource hands out prepared messages with at most inflight unacked,
// redelivering nacked ones: the router's ingest rate without a socket.
type memorySource struct {
	msgs     []*message.Message
	inflight int
	closed   chan struct{}
	once     sync.Once
}

func (s *memorySource) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	sem := make(chan struct{}, s.inflight)
	go func() {
		defer close(out)
		var wg sync.WaitGroup
		defer wg.Wait()
		for _, m := range s.msgs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			case <-s.closed:
				return
			}
			wg.Add(1)
			go func(m *message.Message) {
				defer wg.Done()
				defer func() { <-sem }()
				for {
					msg := m.Copy()
					select {
					case out <- msg:
					case <-ctx.Done():
						return
					case <-s.closed:
						return
					}
					select {
					case <-msg.Acked():
						return
					case <-msg.Nacked():
					case <-ctx.Done():
						return
					case <-s.closed:
						return
					}
				}
			}(m)
		}
		select {
		case <-ctx.Done():
		case <-s.closed:
		}
	}()
	return out, nil
}

func (s *memorySource) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

// ingestRate runs sub through a fresh router into Postgres and returns
// events/s until n events are stored; start is called once the source is ready.
func ingestRate(b *testing.B, sub message.Subscriber, n int, ready func(), start func()) float64 {
	b.Helper()
	pool := pgtest.NewPool(b)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "bench",
		Sources: []router.Source{{Name: "panel", Source: tributary.FromSubscriber(sub, "panel")}},
		Sinks:   []router.Sink{{Name: "noop", Publisher: pipelinetest.NewSink(nil)}},
	})
	if err != nil {
		b.Fatal(err)
	}
	stop := pipelinetest.RunRouter(b, r)
	// Stop this router before the caller measures anything else.
	defer func() {
		stop()
		_ = sub.Close()
	}()
	ready()
	t0 := time.Now()
	start()
	deadline := time.Now().Add(5 * time.Minute)
	for pipelinetest.TopicRows(b, pool, "bench") < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d events stored", pipelinetest.TopicRows(b, pool, "bench"), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return float64(n) / time.Since(t0).Seconds()
}

// BenchmarkSocketToPostgresTopic measures events/s from the socket through
// the real router into the Postgres topic (dedup + publish in one
// transaction per event), against the raw frame read rate of the same
// events in the same run.
func BenchmarkSocketToPostgresTopic(b *testing.B) {
	for _, inflight := range []int{1, 16} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			evs := benchEvents(b.N)

			rawSrv, rawURL := startServer(b, socketiotest.Config{PingInterval: time.Minute, PingTimeout: time.Minute}) // the raw reader does not ping
			raw := rawFrameRate(b, rawSrv, rawURL, evs)

			srv, url := startServer(b, socketiotest.Config{PingInterval: time.Second, PingTimeout: 5 * time.Second})
			cfg := fastSocket(url)
			sub, err := socketio.NewSubscriber(socketio.Config{Socket: cfg, MaxInFlight: inflight, MaxPending: b.N + inflight}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			rate := ingestRate(b, sub, b.N, func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := srv.WaitClients(ctx, "/", 1); err != nil {
					b.Fatal(err)
				}
			}, func() {
				go func() {
					for _, ev := range evs {
						srv.Emit("/", "door.request.allowed", ev)
					}
				}()
			})
			b.StopTimer()

			// Second reference: the same events from memory through the same router.
			msgs := make([]*message.Message, len(evs))
			for i, ev := range evs {
				data, _ := json.Marshal(ev)
				msgs[i] = tributary.NewEventMessage(socketio.EventID("door.request.allowed", data), data)
			}
			mem := ingestRate(b, &memorySource{msgs: msgs, inflight: inflight, closed: make(chan struct{})}, b.N, func() {}, func() {})
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(raw, "raw_frames/s")
			b.ReportMetric(rate/raw, "ratio")
			b.ReportMetric(mem, "memsource_events/s")
			b.ReportMetric(rate/mem, "ratio_vs_memsource")
		})
	}
}
