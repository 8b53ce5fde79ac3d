package jstopic

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishTimeout bounds a Publish, which has no context of its own.
const publishTimeout = 30 * time.Second

// Publisher publishes to topics, creating their streams on first use. A
// Publish returns once the stream has stored every message (its PubAck).
type Publisher struct {
	js      jetstream.JetStream
	cfg     Config
	ensured sync.Map // topic -> struct{}
}

// NewPublisher returns a publisher on js; it shares js's connection and
// never closes it.
func NewPublisher(js jetstream.JetStream, cfg Config) *Publisher {
	cfg.setDefaults()
	return &Publisher{js: js, cfg: cfg}
}

// Publish implements message.Publisher. On a pipeline topic each message
// carries its UUID as Nats-Msg-Id, so publishing it again within the
// stream's duplicate window stores nothing; a retry topic's messages carry
// none, since a requeued message keeps its UUID from attempt to attempt.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	ids := make([]string, len(msgs))
	if !placeOf(topic).retry {
		for i, m := range msgs {
			ids[i] = m.UUID
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	_, err := p.PublishWithIDs(ctx, topic, msgs, ids)
	return err
}

// PublishWithIDs publishes msgs to topic, msgs[i] with Nats-Msg-Id ids[i]
// ("" for none), all at once, and waits for every PubAck. dup[i] says the
// stream dropped msgs[i] as a repeat of an id it has seen within its
// duplicate window. On an error some messages may have been stored.
func (p *Publisher) PublishWithIDs(ctx context.Context, topic string, msgs []*message.Message, ids []string) (dup []bool, err error) {
	if _, ok := p.ensured.Load(topic); !ok {
		if _, err := EnsureStream(ctx, p.js, topic, p.cfg); err != nil {
			return nil, err
		}
		p.ensured.Store(topic, struct{}{})
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		nm := Marshal(topic, m)
		if ids != nil && ids[i] != "" {
			nm.Header.Set(nats.MsgIdHdr, ids[i])
		}
		f, err := p.js.PublishMsgAsync(nm)
		if err != nil {
			return nil, fmt.Errorf("publish to %s: %w", topic, err)
		}
		futures[i] = f
	}
	dup = make([]bool, len(msgs))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			dup[i] = ack.Duplicate
		case err := <-f.Err():
			return nil, fmt.Errorf("publish to %s: %w", topic, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("publish to %s: %w", topic, ctx.Err())
		}
	}
	return dup, nil
}

// Close implements message.Publisher; the connection is its owner's.
func (p *Publisher) Close() error { return nil }

// lineBreaks would end a NATS header early: a metadata value (an error's
// text, say) keeps its words on one line.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// Marshal encodes m for subject in watermill-nats's format.
func Marshal(subject string, m *message.Message) *nats.Msg {
	nm, _ := (&wmnats.NATSMarshaler{}).Marshal(subject, m) // never fails
	for _, v := range nm.Header {
		for i := range v {
			v[i] = lineBreaks.Replace(v[i])
		}
	}
	return nm
}
