package etagpoll

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// Between polls a source holds no goroutine: its next poll is a timer
// (time.AfterFunc, which starts a goroutine only when it fires), so a
// thousand idle sources cost a thousand timers, not a thousand parked
// stacks. A fired poll runs through its API host's pollSlots, which let at
// most maxPollsPerHost polls of one host run at once and queue the rest as
// plain values: a burst of sources falling due together then waits in that
// queue instead of as goroutines each holding a connection, and a slow or
// hanging host delays only its own sources.
const maxPollsPerHost = 16

// pollSlots runs functions with at most max of them at once; the others
// wait, in order, in a queue.
type pollSlots struct {
	mu      sync.Mutex
	running int
	max     int
	queue   []func()
}

var (
	slotsMu sync.Mutex
	slots   = map[string]*pollSlots{}
)

// hostSlots is the pollSlots shared by every source polling host.
func hostSlots(host string) *pollSlots {
	slotsMu.Lock()
	defer slotsMu.Unlock()
	p, ok := slots[host]
	if !ok {
		p = &pollSlots{max: maxPollsPerHost}
		slots[host] = p
	}
	return p
}

// do runs f on the calling goroutine if a slot is free (and then whatever
// queued meanwhile), else queues it and returns at once.
func (p *pollSlots) do(f func()) {
	p.mu.Lock()
	if p.running >= p.max {
		p.queue = append(p.queue, f)
		p.mu.Unlock()
		return
	}
	p.running++
	p.mu.Unlock()
	for f != nil {
		f()
		p.mu.Lock()
		f = nil
		if len(p.queue) > 0 {
			f, p.queue[0] = p.queue[0], nil
			p.queue = p.queue[1:]
		} else {
			p.running--
		}
		p.mu.Unlock()
	}
}

// after runs f after d through the host's slots, or stop instead once ctx
// ends first; exactly one of them runs. Tests that replace the clock
// (s.sleep) get a goroutine that sleeps on it.
func (s *Source) after(ctx context.Context, d time.Duration, f, stop func()) {
	// fire runs f in one of the host's slots, unless ctx ended meanwhile.
	fire := func() {
		s.slots.do(func() {
			if ctx.Err() != nil {
				stop()
				return
			}
			f()
		})
	}
	if s.sleep != nil {
		go func() {
			if s.sleep(ctx, d) != nil {
				stop()
				return
			}
			fire()
		}()
		return
	}
	// The timer is armed only once the watcher is registered, which it
	// calls.
	var cancelWatch atomic.Pointer[func() bool]
	t := time.AfterFunc(time.Hour, func() {
		if !(*cancelWatch.Load())() {
			// ctx ended as the timer fired; its watcher saw the timer
			// gone, so stopping is up to this side.
			stop()
			return
		}
		fire()
	})
	t.Stop()
	unwatch := context.AfterFunc(ctx, func() {
		if t.Stop() {
			stop()
		}
	})
	cancelWatch.Store(&unwatch)
	t.Reset(d)
}

// pause waits d within a poll (between redeliveries).
func (s *Source) pause(ctx context.Context, d time.Duration) error {
	if s.sleep != nil {
		return s.sleep(ctx, d)
	}
	return backoff.Sleep(ctx, d)
}
