package main_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/tributary-dev/tributary"
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
	return brokerFeed{
		options: fmt.Sprintf("{ url: %q, queue: %q, prefetch: 10 }", url, queue),
		publish: func(t *testing.T, msgs []*message.Message) {
			sink, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Queue: queue}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if err := sink.Publish("", msgs...); err != nil {
				t.Fatal(err)
			}
		},
		remaining: func(t *testing.T) int {
			conn, err := amqp091.Dial(url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ch, err := conn.Channel()
			if err != nil {
				t.Fatal(err)
			}
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
		publish: func(t *testing.T, msgs []*message.Message) {
			sink, err := redisstream.NewSink(redisstream.SinkConfig{Connection: redisstream.Connection{URL: url}, Stream: stream}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if err := sink.Publish("", msgs...); err != nil {
				t.Fatal(err)
			}
		},
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
		publish: func(t *testing.T, msgs []*message.Message) {
			sink, err := natsjs.NewSink(natsjs.SinkConfig{Connection: conn}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if err := sink.Publish("", msgs...); err != nil {
				t.Fatal(err)
			}
		},
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
