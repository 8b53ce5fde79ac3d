package router

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// closeSyncSubscriber makes Close return only once every channel it handed
// out is closed. watermill-sql's Subscriber closes its output channel just
// after Close has returned, so a caller could still see it open.
type closeSyncSubscriber struct {
	message.Subscriber
	wg      sync.WaitGroup
	closing chan struct{}
	once    sync.Once
}

func syncClose(s message.Subscriber) *closeSyncSubscriber {
	return &closeSyncSubscriber{Subscriber: s, closing: make(chan struct{})}
}

func (s *closeSyncSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		for m := range in {
			select {
			case out <- m:
			case <-s.closing:
				// Not acked, so redelivered after restart; keep draining
				// until the inner subscriber closes its channel.
			}
		}
	}()
	return out, nil
}

func (s *closeSyncSubscriber) Close() error {
	s.once.Do(func() { close(s.closing) })
	err := s.Subscriber.Close()
	s.wg.Wait()
	return err
}

// SubscribeInitialize passes through to the inner subscriber.
func (s *closeSyncSubscriber) SubscribeInitialize(topic string) error {
	if i, ok := s.Subscriber.(message.SubscribeInitializer); ok {
		return i.SubscribeInitialize(topic)
	}
	return nil
}
