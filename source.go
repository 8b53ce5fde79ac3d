package tributary

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
)

// Emit hands a group of messages on to the pipeline, in their order, and
// returns nil only once every one of them is durably stored (or found a
// duplicate of a stored event): that return is the ack, and only then may a
// source move its cursor past them. An error means the group must be handed
// on again; with the Postgres backend none of it was stored (one
// statement), with JetStream the part already published is dropped as a
// duplicate by its message ids. A message is a group of one.
//
// Emit ignores the cancellation of ctx: a group under way when the source
// is told to stop is still stored (the router bounds that by its
// CloseTimeout), so a source that stops may hand on what it already read.
// A source that needs its order kept has one Emit under way at a time; it
// may call Emit from several goroutines otherwise.
type Emit func(ctx context.Context, msgs ...*message.Message) error

// Source reads a provider and hands on what it reads through Emit. It is the
// one contract of every source: the router runs it, a Watermill Subscriber
// becomes one with FromSubscriber, and a loop becomes one with SourceFunc.
//
// Start begins reading and returns at once (an error: it could not start,
// and stopped is not called). When ctx ends the source stops reading its
// provider, may still Emit what it already read, and then calls stopped
// (nil). A source that stops on its own (it failed for good: a feed that
// does not exist) calls stopped with the reason. stopped is called exactly
// once per successful Start; after it, Start may be called again (the
// router does when leadership of the source comes back to this instance),
// resuming from the source's own checkpoint.
//
// Start holds no goroutine of the router's: a source that is idle between
// polls (a timer) costs no goroutine at all, which is what a process
// running a thousand sources needs.
type Source interface {
	Start(ctx context.Context, emit Emit, stopped func(error)) error
}

// SourceFunc is a Source that is one loop: Start runs it in a goroutine of
// its own, and it returns nil once ctx ended (after handing on, or not, what
// it read) or the reason it stopped for good.
type SourceFunc func(ctx context.Context, emit Emit) error

// Start implements Source.
func (f SourceFunc) Start(ctx context.Context, emit Emit, stopped func(error)) error {
	go func() { stopped(f(ctx, emit)) }()
	return nil
}

// ErrSourceStopped is the reason a source gives when it stopped on its own
// without a reason of its own: e.g. a Subscriber whose channel closed while
// the process runs.
var ErrSourceStopped = errors.New("the source stopped on its own (it gave no reason)")

// SubscriberSource is a Watermill Subscriber run as a Source: the one place
// where a channel and per-message acks meet Emit. Each message is emitted
// as a group of one, in its own goroutine (a subscriber with several
// messages awaiting their acks gets them stored together), and acked once
// Emit returned nil, else nacked (the subscriber redelivers it).
//
// On stop it closes the subscriber first, so that it stops reading and
// hands on what it already read (which is stored), and ends the
// subscription's context only once the channel closed. A channel that
// closes while the source is not stopping is the source stopping on its
// own: the reason is the subscriber's Err() when it has one.
type SubscriberSource struct {
	topic string
	build func() (message.Subscriber, error)
	mu    sync.Mutex
	cur   message.Subscriber // the run under way's (Current)
	instr func(message.Subscriber)
}

// FromSubscriber runs sub as a Source, subscribing to topic. sub is closed
// when the source stops, and most subscribers cannot subscribe again after
// that: for a source that leadership stops and starts again, use
// NewSubscriberSource, which builds a new one each time.
func FromSubscriber(sub message.Subscriber, topic string) *SubscriberSource {
	var used atomic.Bool
	return NewSubscriberSource(topic, func() (message.Subscriber, error) {
		if used.Swap(true) {
			return nil, errors.New("the subscriber was closed by an earlier run and cannot start again (use NewSubscriberSource)")
		}
		return sub, nil
	})
}

// NewSubscriberSource runs a Subscriber that build makes at every Start,
// subscribing to topic.
func NewSubscriberSource(topic string, build func() (message.Subscriber, error)) *SubscriberSource {
	return &SubscriberSource{topic: topic, build: build}
}

// Current is the subscriber of the run under way, nil between runs.
func (s *SubscriberSource) Current() message.Subscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Instrument passes the router's metrics registry and the source's names
// on to every subscriber the source builds that takes them (see
// router.Instrumented), before it subscribes.
func (s *SubscriberSource) Instrument(reg prometheus.Registerer, pipeline, name string) {
	s.instr = func(sub message.Subscriber) {
		if in, ok := sub.(interface {
			Instrument(prometheus.Registerer, string, string)
		}); ok {
			in.Instrument(reg, pipeline, name)
		}
	}
}

// Start implements Source.
func (s *SubscriberSource) Start(ctx context.Context, emit Emit, stopped func(error)) error {
	sub, err := s.build()
	if err != nil {
		return err
	}
	if s.instr != nil {
		s.instr(sub)
	}
	// The subscription outlives ctx: it ends once the channel is drained.
	subCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ch, err := sub.Subscribe(subCtx, s.topic)
	if err != nil {
		cancel()
		_ = sub.Close()
		return fmt.Errorf("subscribe: %w", err)
	}
	s.mu.Lock()
	s.cur = sub
	s.mu.Unlock()
	var stopping atomic.Bool
	var closeOnce sync.Once
	closeSub := func() { closeOnce.Do(func() { _ = sub.Close() }) }
	stopClose := context.AfterFunc(ctx, func() { stopping.Store(true); closeSub() })
	go func() {
		var wg sync.WaitGroup
		for msg := range ch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := emit(msg.Context(), msg); err != nil {
					msg.Nack()
					return
				}
				msg.Ack()
			}()
		}
		wg.Wait()
		stopClose()
		var reason error
		if !stopping.Load() && ctx.Err() == nil {
			reason = ErrSourceStopped
			if e, ok := sub.(interface{ Err() error }); ok && e.Err() != nil {
				reason = e.Err()
			}
		}
		closeSub()
		cancel()
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		stopped(reason)
	}()
	return nil
}
