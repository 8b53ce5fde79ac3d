package router

import (
	"context"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/tributary-dev/tributary/middleware"
)

// MemoryBackend keeps topics in a Watermill GoChannel and middleware state in
// maps. It is for unit tests: nothing survives the process, and dedup is not
// atomic with publishing.
type MemoryBackend struct {
	pubsub *gochannel.GoChannel
	dedup  *middleware.MemoryDedupStore
	// Poison holds what the pipelines poisoned.
	Poison *middleware.MemoryPoisonStore

	mu     sync.Mutex
	timers []*time.Timer
}

// Memory returns a new in-memory backend.
func Memory() *MemoryBackend {
	return &MemoryBackend{
		pubsub: gochannel.NewGoChannel(gochannel.Config{Persistent: true}, watermill.NopLogger{}),
		dedup:  &middleware.MemoryDedupStore{},
		Poison: &middleware.MemoryPoisonStore{},
	}
}

func (b *MemoryBackend) init(context.Context, []Pipeline, watermill.LoggerAdapter, time.Duration) error {
	return nil
}

func (b *MemoryBackend) ingest(ctx context.Context, target ingestTarget, items []ingestItem) ([]bool, error) {
	stored := make([]bool, len(items))
	for i, it := range items {
		if it.key != "" {
			dup, err := b.dedup.Record(ctx, target.pipeline, it.key, target.ttl)
			if err != nil {
				return nil, err
			}
			if dup {
				continue
			}
		}
		if err := b.pubsub.Publish(target.topic, it.msg); err != nil {
			return nil, err
		}
		stored[i] = true
	}
	return stored, nil
}

// ingestEach is ingest: nothing in memory is refused for good.
func (b *MemoryBackend) ingestEach(ctx context.Context, target ingestTarget, items []ingestItem) ([]bool, []string, error) {
	stored, err := b.ingest(ctx, target, items)
	return stored, make([]string, len(items)), err
}

func (b *MemoryBackend) deliverySubscriber(string, int, watermill.LoggerAdapter) (message.Subscriber, error) {
	return nopCloseSubscriber{b.pubsub}, nil
}

func (b *MemoryBackend) retrySubscriber(int, watermill.LoggerAdapter) (message.Subscriber, error) {
	return nopCloseSubscriber{b.pubsub}, nil
}

func (b *MemoryBackend) retryPublisher(*message.Message, watermill.LoggerAdapter) (message.Publisher, error) {
	return memoryDelayPublisher{b}, nil
}

func (b *MemoryBackend) poisonStore() middleware.PoisonStore               { return b.Poison }
func (b *MemoryBackend) maintain(context.Context, watermill.LoggerAdapter) {}

func (b *MemoryBackend) close() error {
	b.mu.Lock()
	for _, t := range b.timers {
		t.Stop()
	}
	b.mu.Unlock()
	return b.pubsub.Close()
}

// memoryDelayPublisher publishes each message once its delay has passed.
type memoryDelayPublisher struct{ b *MemoryBackend }

func (p memoryDelayPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		wait := time.Duration(0)
		if until, err := time.Parse(time.RFC3339, m.Metadata.Get(delay.DelayedUntilKey)); err == nil {
			wait = time.Until(until)
		}
		m := m.Copy()
		t := time.AfterFunc(wait, func() { _ = p.b.pubsub.Publish(topic, m) })
		p.b.mu.Lock()
		p.b.timers = append(p.b.timers, t)
		p.b.mu.Unlock()
	}
	return nil
}

func (p memoryDelayPublisher) Close() error { return nil }

// nopCloseSubscriber shares one GoChannel between handlers: the router closes
// each handler's subscriber, and the backend closes the GoChannel itself.
type nopCloseSubscriber struct{ *gochannel.GoChannel }

func (nopCloseSubscriber) Close() error { return nil }
