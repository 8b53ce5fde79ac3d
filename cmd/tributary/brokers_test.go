package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
	"github.com/tributary-dev/tributary/brokers/amqp"
	"github.com/tributary-dev/tributary/brokers/natsjs"
	"github.com/tributary-dev/tributary/brokers/redisstream"
	"github.com/tributary-dev/tributary/internal/brokertest"
	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
)

const brokerKillEvents = 600

// brokerFeed is a broker the killed binary reads: the source's options in
// the file, a way to put events on it, and how many it still holds for the
// source (not acked).
type brokerFeed struct {
	options   string
	publish   func(t *testing.T, msgs []*message.Message)
	remaining func(t *testing.T) int
}

func amqpFeed(t *testing.T) brokerFeed {
	url := brokertest.RabbitMQ(t)
	queue := brokertest.AMQPQueue(t, url)
	ch := brokertest.AMQPChannel(t, url)
	return brokerFeed{
		options: fmt.Sprintf("{ url: %q, queue: %q, prefetch: 10 }", url, queue),
		publish: publishWith(func() (*brokers.Sink, error) {
			return amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Queue: queue}, nil)
		}),
		remaining: func(t *testing.T) int {
			q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			return q.Messages // ready: the killed consumer's unacked ones are back
		},
	}
}

func redisFeed(t *testing.T) brokerFeed {
	url := brokertest.Redis(t)
	stream, client := brokertest.RedisStream(t, url)
	return brokerFeed{
		// A restarted instance is a new consumer: it claims what the killed
		// one read but never acked once that is claim_idle old.
		options: fmt.Sprintf("{ url: %q, stream: %q, group: tributary, claim_idle: 2s }", url, stream),
		publish: publishWith(func() (*brokers.Sink, error) {
			return redisstream.NewSink(redisstream.SinkConfig{Connection: redisstream.Connection{URL: url}, Stream: stream}, nil)
		}),
		remaining: func(t *testing.T) int {
			groups, err := client.XInfoGroups(context.Background(), stream).Result()
			if err != nil || len(groups) != 1 {
				t.Fatalf("XINFO GROUPS: %v %v", groups, err)
			}
			return int(groups[0].Lag + groups[0].Pending)
		},
	}
}

func natsFeed(t *testing.T) brokerFeed {
	srv := natstest.Start(t)
	conn := natsjs.Connection{URL: srv.URL, Subject: "bus.orders", Stream: "BUS"}
	return brokerFeed{
		options: fmt.Sprintf("{ url: %q, subject: %q, stream: %q, durable: bus, ack_wait: 2s }", srv.URL, conn.Subject, conn.Stream),
		publish: publishWith(func() (*brokers.Sink, error) { return natsjs.NewSink(natsjs.SinkConfig{Connection: conn}, nil) }),
		remaining: func(t *testing.T) int {
			nc, err := nats.Connect(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := nc.JetStream()
			ci, err := js.ConsumerInfo("BUS", "bus")
			if err != nil {
				t.Fatal(err)
			}
			return int(ci.NumPending) + ci.NumAckPending
		},
	}
}

// publishWith puts events on a broker with the sink newSink makes.
func publishWith(newSink func() (*brokers.Sink, error)) func(*testing.T, []*message.Message) {
	return func(t *testing.T, msgs []*message.Message) {
		sink, err := newSink()
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		if err := sink.Publish("", msgs...); err != nil {
			t.Fatal(err)
		}
	}
}

// idReceiver counts the X-Tributary-Event-Id of what it is sent.
type idReceiver struct {
	mu    sync.Mutex
	count map[string]int
	total int
}

func (r *idReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	time.Sleep(2 * time.Millisecond)
	r.mu.Lock()
	r.count[req.Header.Get("X-Tributary-Event-Id")]++
	r.total++
	r.mu.Unlock()
}

func (r *idReceiver) counts() (distinct, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count), r.total
}

// TestBinaryBrokerSourceKilled: the binary reads a broker (RabbitMQ, Redis
// Streams, NATS JetStream) into a webhook receiver and is killed with
// SIGKILL while the broker still holds events for it; restarted, it
// delivers every event, repeats only under the same id, and its topic holds
// each event once (the broker's redeliveries were deduplicated).
func TestBinaryBrokerSourceKilled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		feed func(*testing.T) brokerFeed
	}{{"amqp", amqpFeed}, {"redisstream", redisFeed}, {"natsjs", natsFeed}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			feed := tc.feed(t)
			dbURL := pgtest.NewDatabase(t)
			env := []string{"DATABASE_URL=" + dbURL}
			migrate(t, env)

			var msgs []*message.Message
			want := map[string]bool{}
			for i := range brokerKillEvents {
				id := fmt.Sprintf("bus-%04d", i)
				want[id] = true
				m := tributary.NewEventMessage(id, []byte(fmt.Sprintf(`{"id":%q,"n":%d}`, id, i)))
				m.Metadata.Set(tributary.MetaEventType, "order.created")
				msgs = append(msgs, m)
			}
			feed.publish(t, msgs)

			recv := &idReceiver{count: map[string]int{}}
			srv := httptest.NewServer(recv)
			defer srv.Close()
			file := filepath.Join(t.TempDir(), "pipeline.yaml")
			yaml := fmt.Sprintf(`pipelines:
  - name: bus
    sources:
      - name: in
        type: %s
        options: %s
    retry:
      schedule: { kind: list, delays: [100ms, 200ms, 400ms] }
    sinks:
      - name: receiver
        type: http
        options: { url: %q, allow_private_networks: true }
`, tc.name, feed.options, srv.URL)
			if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}

			run := start(t, env, "run", "-c", file, "--metrics-addr", freeAddr(t))
			waitFor(t, 90*time.Second, "the first deliveries", func() bool { d, _ := recv.counts(); return d >= 20 })
			if err := run.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-run.done
			killedAt, _ := recv.counts()
			left := feed.remaining(t)
			if left == 0 {
				t.Fatalf("the broker held nothing more when the binary was killed (%d delivered); the test proves nothing", killedAt)
			}

			run2 := start(t, env, "run", "-c", file, "--metrics-addr", freeAddr(t))
			waitFor(t, 3*time.Minute, "every event after the restart", func() bool {
				d, _ := recv.counts()
				return d >= brokerKillEvents
			})
			waitFor(t, 30*time.Second, "the broker to have handed over everything", func() bool { return feed.remaining(t) == 0 })
			run2.stop(t)

			distinct, total := recv.counts()
			recv.mu.Lock()
			for id := range recv.count {
				if !want[id] {
					t.Errorf("receiver got event id %q, not one on the broker", id)
				}
			}
			recv.mu.Unlock()
			var stored int
			pool := pgtest.PoolFor(t, dbURL)
			if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_messages WHERE topic = $1`, router.Topic("bus")).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored != brokerKillEvents {
				t.Errorf("topic holds %d events, want each of the %d once", stored, brokerKillEvents)
			}
			t.Logf("killed after %d deliveries with %d events left on the broker; %d distinct delivered, %d repeats (same ids)",
				killedAt, left, distinct, total-distinct)
		})
	}
}

// readBroker reads n events from src (acking each) and returns their ids.
func readBroker(t *testing.T, src message.Subscriber, n int) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	defer src.Close()
	ch, err := src.Subscribe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for len(got) < n {
		select {
		case m := <-ch:
			got[tributary.EventID(m)]++
			m.Ack()
		case <-ctx.Done():
			t.Fatalf("read %d of %d events from the broker", len(got), n)
		}
	}
	return got
}

// TestBinaryDeliversToBrokers: a pipeline file delivers to RabbitMQ (behind
// a filter), Redis Streams and NATS JetStream; each broker holds what it
// should, under the events' ids, and the delivery log has an attempt for
// each delivery.
func TestBinaryDeliversToBrokers(t *testing.T) {
	t.Parallel()
	rabbit, redisURL := brokertest.RabbitMQ(t), brokertest.Redis(t)
	queue := brokertest.AMQPQueue(t, rabbit)
	stream, _ := brokertest.RedisStream(t, redisURL)
	nats := natstest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL, "RABBITMQ_URL=" + rabbit}
	migrate(t, env)
	const doors, noise = 40, 20
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	yaml := fmt.Sprintf(`pipelines:
  - name: out
    sources:
      - { name: doors, type: generator, options: { count: %d, interval: 5ms, prefix: door, type: door.unlocked } }
      - { name: noise, type: generator, options: { count: %d, interval: 5ms, prefix: noise, type: sensor.noise } }
    sinks:
      - name: rabbit
        type: amqp
        options: { url: "${RABBITMQ_URL}", queue: %q }
        filter: { types: ["door.*"] }
      - name: redis
        type: redisstream
        options: { url: %q, stream: %q }
      - name: nats
        type: natsjs
        options: { url: %q, subject: out.events, stream: OUT }
`, doors, noise, queue, redisURL, stream, nats.URL)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, env, "validate", "-c", file); r.code != 0 {
		t.Fatalf("validate: %+v", r)
	}
	run := start(t, env, "run", "-c", file, "--metrics-addr", freeAddr(t))

	amqpSrc, err := amqp.NewSource(amqp.SourceConfig{Connection: amqp.Connection{URL: rabbit}, Queue: queue}, nil)
	if err != nil {
		t.Fatal(err)
	}
	redisSrc, err := redisstream.NewSource(redisstream.SourceConfig{Connection: redisstream.Connection{URL: redisURL}, Stream: stream}, nil)
	if err != nil {
		t.Fatal(err)
	}
	natsSrc, err := natsjs.NewSource(natsjs.SourceConfig{Connection: natsjs.Connection{URL: nats.URL, Subject: "out.events", Stream: "OUT"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]map[string]int{
		"rabbit": readBroker(t, amqpSrc, doors),
		"redis":  readBroker(t, redisSrc, doors+noise),
		"nats":   readBroker(t, natsSrc, doors+noise),
	} {
		for i := 1; i <= doors; i++ {
			if got[fmt.Sprintf("door-%06d", i)] == 0 {
				t.Errorf("%s: door-%06d missing", name, i)
			}
		}
		for id := range got {
			if name == "rabbit" && id[:5] != "door-" {
				t.Errorf("rabbit: %s passed the filter", id)
			}
		}
	}
	run.stop(t)
	// Every delivery is in the delivery log, without the broker's password.
	for sink, want := range map[string]int{"rabbit": doors, "redis": doors + noise, "nats": doors + noise} {
		r := runCLI(t, env, "--json", "deliveries", "list", "--pipeline", "out", "--sink", sink, "--outcome", "success", "--limit", "1000")
		var attempts []map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &attempts) != nil || len(attempts) < want {
			t.Errorf("%s: %d successful attempts in the delivery log, want %d: %+v", sink, len(attempts), want, r)
		}
		if strings.Contains(r.stdout, "guest:guest") {
			t.Errorf("%s: the delivery log shows the broker's password", sink)
		}
	}
}
