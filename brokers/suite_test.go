package brokers_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
	"github.com/tributary-dev/tributary/brokers/amqp"
	"github.com/tributary-dev/tributary/brokers/natsjs"
	"github.com/tributary-dev/tributary/brokers/redisstream"
	"github.com/tributary-dev/tributary/internal/brokertest"
	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// broker is one broker under test: a place of its own on it (a queue, a
// stream, a subject and stream), a way to make it go away and come back,
// and its sink and source pointed at that place.
type broker struct {
	name  string
	setup func(t *testing.T) *place
}

type place struct {
	// url reaches the broker through what cut breaks; direct does not.
	url, direct string
	// name is the queue, stream or subject of the test.
	name string
	// cut makes the broker unreachable (a proxy refusing, or the test's
	// own server killed); restore brings it back.
	cut, restore func()
	sink         func(t *testing.T, url string, log deliverylog.Recorder) *brokers.Sink
	source       func(t *testing.T, url string) *brokers.Source
	// foreign publishes a message as another producer would, with its own
	// message id (or none).
	foreign func(t *testing.T, id string, body []byte)
}

var brokerCases = []broker{
	{"amqp", setupAMQP},
	{"redisstream", setupRedis},
	{"natsjs", setupNATS},
}

func setupAMQP(t *testing.T) *place {
	direct := brokertest.RabbitMQ(t)
	proxy := brokertest.NewProxy(t, direct)
	queue := brokertest.AMQPQueue(t, direct)
	producer := brokertest.AMQPChannel(t, direct)
	return &place{url: proxy.URL, direct: direct, name: queue, cut: proxy.Cut, restore: proxy.Restore,
		sink: func(t *testing.T, url string, log deliverylog.Recorder) *brokers.Sink {
			s, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Exchange: queue,
				RoutingKey: "events", Queue: queue,
				SinkOptions: brokers.SinkOptions{Timeout: 5 * time.Second, Log: log}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		source: func(t *testing.T, url string) *brokers.Source {
			s, err := amqp.NewSource(amqp.SourceConfig{Connection: amqp.Connection{URL: url}, Queue: queue}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		foreign: func(t *testing.T, id string, body []byte) {
			// A header that is not a string, as other producers send.
			err := producer.PublishWithContext(context.Background(), "", queue, false, false, amqp091.Publishing{
				MessageId: id, Body: body, Headers: amqp091.Table{"attempt": int32(3)}, DeliveryMode: amqp091.Persistent})
			if err != nil {
				t.Fatal(err)
			}
		},
	}
}

func setupRedis(t *testing.T) *place {
	direct := brokertest.Redis(t)
	proxy := brokertest.NewProxy(t, direct)
	stream, client := brokertest.RedisStream(t, direct)
	return &place{url: proxy.URL, direct: direct, name: stream, cut: proxy.Cut, restore: proxy.Restore,
		sink: func(t *testing.T, url string, log deliverylog.Recorder) *brokers.Sink {
			s, err := redisstream.NewSink(redisstream.SinkConfig{Connection: redisstream.Connection{URL: url},
				Stream: stream, SinkOptions: brokers.SinkOptions{Timeout: 5 * time.Second, Log: log}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		source: func(t *testing.T, url string) *brokers.Source {
			s, err := redisstream.NewSource(redisstream.SourceConfig{Connection: redisstream.Connection{URL: url},
				Stream: stream, Group: "tributary", ClaimIdle: 2 * time.Second,
				SourceOptions: brokers.SourceOptions{IDField: "id"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		foreign: func(t *testing.T, id string, body []byte) {
			// Another producer's fields: the id lives in the body (id_field).
			if err := client.XAdd(context.Background(), &redis.XAddArgs{Stream: stream,
				Values: map[string]any{"payload": body, "producer": "other"}}).Err(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func setupNATS(t *testing.T) *place {
	srv := natstest.Start(t)
	subject := "tributary.test.events"
	conn := natsjs.Connection{URL: srv.URL, Subject: subject, Stream: "TRIBUTARY_TEST"}
	return &place{url: srv.URL, direct: srv.URL, name: subject, cut: srv.Stop, restore: srv.Restart,
		sink: func(t *testing.T, url string, log deliverylog.Recorder) *brokers.Sink {
			c := conn
			c.URL = url
			s, err := natsjs.NewSink(natsjs.SinkConfig{Connection: c, SinkOptions: brokers.SinkOptions{Timeout: 5 * time.Second, Log: log}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		source: func(t *testing.T, url string) *brokers.Source {
			c := conn
			c.URL = url
			s, err := natsjs.NewSource(natsjs.SourceConfig{Connection: c, Durable: "test", AckWait: 2 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		foreign: func(t *testing.T, id string, body []byte) {
			natsPublish(t, srv.URL, subject, "TRIBUTARY_TEST", id, body)
		},
	}
}

// attempts is an in-memory delivery log.
type attempts struct {
	mu  sync.Mutex
	all []deliverylog.Attempt
}

func (a *attempts) Record(_ context.Context, at deliverylog.Attempt) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.all = append(a.all, at)
	return nil
}

func (a *attempts) count(o deliverylog.Outcome) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, at := range a.all {
		if at.Outcome == o {
			n++
		}
	}
	return n
}

func (a *attempts) list() []deliverylog.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]deliverylog.Attempt(nil), a.all...)
}

// consume reads src as the router does (one at a time, acked once
// "stored"), calling seen with each event, until ctx ends.
func consume(ctx context.Context, t *testing.T, src *brokers.Source, seen func(*message.Message)) <-chan struct{} {
	ch, err := src.Subscribe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ch {
			seen(m)
			m.Ack()
		}
	}()
	return done
}

// idSet counts events by id.
type idSet struct {
	mu    sync.Mutex
	count map[string]int
	meta  map[string]message.Metadata
}

func newIDSet() *idSet { return &idSet{count: map[string]int{}, meta: map[string]message.Metadata{}} }

func (s *idSet) add(m *message.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := tributary.EventID(m)
	s.count[id]++
	s.meta[id] = m.Metadata
}

func (s *idSet) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.count)
}

func (s *idSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[id] > 0
}

func (s *idSet) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.count {
		out = append(out, id)
	}
	return out
}

func hasPrefix(ids []string, p string) int {
	n := 0
	for _, id := range ids {
		if strings.HasPrefix(id, p) {
			n++
		}
	}
	return n
}
