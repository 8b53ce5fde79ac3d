package pgtopic

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pglisten"
)

// Notifier holds one LISTEN connection and wakes the Subscribers of a topic
// when a transaction that published into it commits, on whichever instance
// it ran. Notifications are an optimisation: one lost while the connection
// is down is made up by polling (and by waking everyone on reconnect).
type Notifier struct {
	connConfig *pgx.ConnConfig
	logger     watermill.LoggerAdapter

	mu        sync.Mutex
	listeners map[string]map[chan struct{}]struct{}
}

// NewNotifier returns a Notifier that connects with connConfig (for a pool:
// pool.Config().ConnConfig). Run starts it.
func NewNotifier(connConfig *pgx.ConnConfig, logger watermill.LoggerAdapter) *Notifier {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return &Notifier{connConfig: connConfig.Copy(), logger: logger, listeners: map[string]map[chan struct{}]struct{}{}}
}

// Run listens until ctx ends, reconnecting after errors; on every
// connection it first wakes everyone, for whatever was published while it
// was not listening.
func (n *Notifier) Run(ctx context.Context) {
	pglisten.Run(ctx, n.connConfig, NotifyChannel, n.wakeAll, n.wake, func(err error) {
		n.logger.Error("Listening for new messages failed; polling until it reconnects", err, nil)
	})
}

// listen returns a channel that receives (coalesced) wake-ups for topic.
func (n *Notifier) listen(topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.listeners[topic] == nil {
		n.listeners[topic] = map[chan struct{}]struct{}{}
	}
	n.listeners[topic][ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.listeners[topic], ch)
		if len(n.listeners[topic]) == 0 {
			delete(n.listeners, topic)
		}
		n.mu.Unlock()
	}
}

func (n *Notifier) wake(topic string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.listeners[topic] {
		ring(ch)
	}
}

func (n *Notifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, chs := range n.listeners {
		for ch := range chs {
			ring(ch)
		}
	}
}
