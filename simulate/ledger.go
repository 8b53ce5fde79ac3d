package simulate

import (
	"sync"
	"time"
)

// Sent is an event a simulated provider made available: in its event log or
// feed, or emitted on its socket. Live says whether a client could receive
// it (a socket event emitted with no client connected is gone for good).
type Sent struct {
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	Live bool      `json:"live"`
}

// ledger is implemented by simulators that report what they sent, keyed by
// feed or kind ("eventlog", "socketio", or a feed id); GET /simulator/sent
// serves the union, so tests can check that nothing a provider offered was
// lost on the way to the receiver.
type ledger interface {
	Sent() map[string][]Sent
}

// sentLog records Sent entries under one mutex.
type sentLog struct {
	mu   sync.Mutex
	sent map[string][]Sent
}

func (l *sentLog) add(key string, s Sent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = map[string][]Sent{}
	}
	l.sent[key] = append(l.sent[key], s)
}

func (l *sentLog) snapshot() map[string][]Sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]Sent, len(l.sent))
	for k, v := range l.sent {
		out[k] = append([]Sent(nil), v...)
	}
	return out
}
