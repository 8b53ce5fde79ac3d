package natsjs

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/tributary-dev/tributary/brokers"
)

// subscriber is a message.Subscriber on one connection: each Subscribe
// joins the durable consumer's queue group (created by the first instance,
// with manual acks) and hands messages on one at a time (brokers.Forward);
// a nack becomes a Nak with the configured delay.
//
// It replaces watermill-nats's subscriber, whose Subscribe closes its output
// channel while a NATS callback may still send to it (a data race). Here the
// server writes into a buffered channel of ours that is never closed.
//
// Close closes the connection without unsubscribing: an Unsubscribe would
// delete the durable consumer, and with it the position other instances
// and the next start resume from.
type subscriber struct {
	*brokers.Subscriptions
	js  nats.JetStreamContext
	cfg SourceConfig
}

func newSubscriber(nc *nats.Conn, js nats.JetStreamContext, cfg SourceConfig, logger watermill.LoggerAdapter) *subscriber {
	return &subscriber{
		Subscriptions: brokers.NewSubscriptions("JetStream", logger, func() error { nc.Close(); return nil }),
		js:            js,
		cfg:           cfg,
	}
}

func (s *subscriber) settle(m *nats.Msg, acked bool) error {
	if acked {
		// AckSync: the ack is done only once the server has it, so a
		// stored event is not redelivered for want of an ack in flight.
		return m.AckSync(nats.AckWait(5 * time.Second))
	}
	return m.NakWithDelay(s.cfg.NakDelay)
}

// Subscribe implements message.Subscriber; topic is the subject.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.Closed(); err != nil {
		return nil, err
	}
	in := make(chan *nats.Msg, s.cfg.MaxAckPending)
	_, err := s.js.ChanQueueSubscribe(topic, s.cfg.Durable, in,
		nats.Durable(s.cfg.Durable), nats.ManualAck(), nats.AckExplicit(), nats.AckWait(s.cfg.AckWait),
		nats.DeliverAll(), nats.MaxAckPending(s.cfg.MaxAckPending))
	if err != nil {
		return nil, fmt.Errorf("subscribe %s as %s: %w", topic, s.cfg.Durable, err)
	}
	unmarshal := func(m *nats.Msg) *message.Message {
		msg, _ := Marshaler{}.Unmarshal(m) // never fails
		return msg
	}
	return brokers.Forward(s.Subscriptions, ctx, in, unmarshal, s.settle, nil), nil
}
