package amqp

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/brokertest"
)

// TestConnectionLossEndsWithoutReconnecting: once the connection is cut,
// the publisher's Publish fails and the subscription's channel closes, so
// that package brokers reconnects; neither hangs nor reconnects by itself,
// and Close stays idempotent.
func TestConnectionLossEndsWithoutReconnecting(t *testing.T) {
	t.Parallel()
	direct := brokertest.RabbitMQ(t)
	q := brokertest.AMQPQueue(t, direct)
	proxy := brokertest.NewProxy(t, direct)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pub, err := newPublisher(proxy.URL, topology{queue: q})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := newSubscriber(proxy.URL, topology{}, 1, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := sub.Subscribe(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	m := tributary.NewEventMessage("e1", []byte(`{}`))
	m.SetContext(ctx)
	if err := pub.Publish(q, m); err != nil {
		t.Fatal(err)
	}
	got := <-msgs
	if got == nil || got.Metadata.Get(MessageUUIDHeader) != "" || got.UUID != m.UUID {
		t.Fatalf("got %+v, want message %s", got, m.UUID)
	}

	proxy.Cut()
	got.Ack() // too late for the broker, which requeues it
	for range msgs {
	}
	m = tributary.NewEventMessage("e2", []byte(`{}`))
	m.SetContext(ctx)
	if err := pub.Publish(q, m); err == nil {
		t.Fatal("publish on a lost connection succeeded")
	}
	proxy.Restore()
	if err := pub.Publish(q, m); err == nil {
		t.Fatal("the publisher reconnected by itself")
	}
	if n := proxy.Accepted(); n != 2 {
		t.Fatalf("%d connections through the proxy, want 2 (no reconnects)", n)
	}
	for range 2 {
		if err := errors.Join(pub.Close(), sub.Close()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentPublishesShareTheChannel: concurrent Publish calls (a sink
// with concurrency: N) share the confirm-mode channel, each returning once
// its own message is confirmed; all of them reach the queue.
func TestConcurrentPublishesShareTheChannel(t *testing.T) {
	t.Parallel()
	url := brokertest.RabbitMQ(t)
	q := brokertest.AMQPQueue(t, url)
	pub, err := newPublisher(url, topology{queue: q})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pub.Close() }()
	const workers, each = 8, 20
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			var err error
			for i := range each {
				err = errors.Join(err, pub.Publish(q, tributary.NewEventMessage(fmt.Sprintf("e-%d-%d", w, i), []byte(`{}`))))
			}
			errs <- err
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := brokertest.AMQPChannel(t, url).QueueDeclarePassive(q, true, false, false, false, nil)
	if err != nil || got.Messages != workers*each {
		t.Fatalf("queue holds %d messages (%v), want %d", got.Messages, err, workers*each)
	}
}
