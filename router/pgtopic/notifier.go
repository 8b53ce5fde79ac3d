package pgtopic

import (
	"context"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5"
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

// Run listens until ctx ends, reconnecting after errors.
func (n *Notifier) Run(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := n.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		n.logger.Error("Listening for new messages failed; polling until it reconnects", err, nil)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (n *Notifier) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, n.connConfig)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	n.wakeAll() // whatever was published while not listening
	for {
		nt, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		n.wake(nt.Payload)
	}
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
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (n *Notifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, chs := range n.listeners {
		for ch := range chs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
