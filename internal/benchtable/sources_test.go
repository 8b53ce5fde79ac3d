package benchtable_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// burstSource hands on n events with up to inFlight unacked at once (a
// source reading a page or a batch), redelivering nacked ones; with every
// > 0 it paces them, one every `every`, stamping each with its hand-on time.
type burstSource struct {
	prefix   string
	n        int
	inFlight int
	every    time.Duration
	closed   chan struct{}
	once     sync.Once
	// acked counts acks; allAcked is when the last one came (unix ns).
	acked, allAcked atomic.Int64
}

func newBurstSource(prefix string, n, inFlight int, every time.Duration) *burstSource {
	return &burstSource{prefix: prefix, n: n, inFlight: inFlight, every: every, closed: make(chan struct{})}
}

func (s *burstSource) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	slots := make(chan struct{}, s.inFlight)
	go func() {
		defer close(out)
		var tick <-chan time.Time
		if s.every > 0 {
			t := time.NewTicker(s.every)
			defer t.Stop()
			tick = t.C
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := range s.n {
			if tick != nil {
				select {
				case <-tick:
				case <-s.closed:
					return
				}
			}
			select {
			case slots <- struct{}{}:
			case <-s.closed:
				return
			}
			id := s.prefix + "-" + strconv.Itoa(i)
			sent := strconv.FormatInt(time.Now().UnixNano(), 10)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				for {
					m := tributary.NewEventMessage(id, payload)
					m.Metadata.Set("sent_at", sent)
					select {
					case out <- m:
					case <-s.closed:
						return
					case <-ctx.Done():
						return
					}
					select {
					case <-m.Acked():
						if s.acked.Add(1) == int64(s.n) {
							s.allAcked.Store(time.Now().UnixNano())
						}
						return
					case <-m.Nacked():
					case <-s.closed:
						return
					}
				}
			}()
		}
		<-s.closed
	}()
	return out, nil
}

func (s *burstSource) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

// payload is a ~450-byte JSON event.
var payload = []byte(`{"id":"x","type":"door.request.allowed","occurred":"2026-11-30T12:00:00Z","door":{"id":1,"name":"Main entrance"},"user":{"id":"u_123","name":"Alva Berg"},"method":"app","data":"` +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `"}`)

// groupSource hands on n events in groups of `size` (a source reading pages
// or batches), `inFlight` groups at once, handing a failed group on again
// whole.
type groupSource struct {
	prefix          string
	n, size         int
	inFlight        int
	next            atomic.Int64
	acked, allAcked atomic.Int64
}

func newGroupSource(prefix string, n, size, inFlight int) *groupSource {
	return &groupSource{prefix: prefix, n: n, size: size, inFlight: inFlight}
}

// Start implements tributary.Source.
func (s *groupSource) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	var wg sync.WaitGroup
	for range s.inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				from := int(s.next.Add(int64(s.size))) - s.size
				if from >= s.n {
					return
				}
				to := min(from+s.size, s.n)
				for ctx.Err() == nil {
					sent := strconv.FormatInt(time.Now().UnixNano(), 10)
					msgs := make([]*message.Message, 0, to-from)
					for i := from; i < to; i++ {
						m := tributary.NewEventMessage(s.prefix+"-"+strconv.Itoa(i), payload)
						m.Metadata.Set("sent_at", sent)
						msgs = append(msgs, m)
					}
					if emit(ctx, msgs...) == nil {
						if s.acked.Add(int64(len(msgs))) == int64(s.n) {
							s.allAcked.Store(time.Now().UnixNano())
						}
						break
					}
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		<-ctx.Done()
		stopped(nil)
	}()
	return nil
}

// lastAck is when the last event was acked (unix ns).
func (s *burstSource) lastAck() int64 { return s.allAcked.Load() }

// lastAck is when the last event was acked (unix ns).
func (s *groupSource) lastAck() int64 { return s.allAcked.Load() }
