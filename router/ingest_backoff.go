package router

import (
	"sync"
	"time"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// ingestBackoff slows a source down while its ingest keeps failing (a
// database that is down or not migrated, a constraint): each failure waits
// longer before the message goes back to the source — 100 ms doubling to
// 30 s, with jitter — so the source does not redeliver in a hot loop. It also
// decides which failures are logged: the first of a run of identical errors,
// then one line per logEvery with the count of those not logged.
type ingestBackoff struct {
	mu        sync.Mutex
	failures  int
	lastErr   string
	lastLog   time.Time
	unlogged  int
	logEvery  time.Duration
	base, max time.Duration
}

func newIngestBackoff() *ingestBackoff {
	return &ingestBackoff{logEvery: 10 * time.Second, base: 100 * time.Millisecond, max: 30 * time.Second}
}

// failed records a failure; it returns how long to wait before handing the
// message back, whether to log it, and how many identical failures were not
// logged before it.
func (b *ingestBackoff) failed(err error, now time.Time) (wait time.Duration, log bool, suppressed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	wait = backoff.Jitter(backoff.Exponential(b.base, 2, b.failures-1, b.max), 0.2)
	msg := err.Error()
	if msg != b.lastErr || now.Sub(b.lastLog) >= b.logEvery {
		suppressed = b.unlogged
		b.lastErr, b.lastLog, b.unlogged = msg, now, 0
		return wait, true, suppressed
	}
	b.unlogged++
	return wait, false, 0
}

// succeeded ends a run of failures.
func (b *ingestBackoff) succeeded() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures, b.lastErr, b.unlogged = 0, "", 0
}
