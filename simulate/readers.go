package simulate

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// InstanceHeader names the instance reading a provider. A pipeline file
// under test sets it (e.g. headers: {X-Tributary-Instance:
// ${TRIBUTARY_INSTANCE_ID}}) so that the simulators can tell whether two
// instances ever read one provider at once.
const InstanceHeader = "X-Tributary-Instance"

// Readers is what GET /simulator/readers reports for one provider.
type Readers struct {
	// Handovers counts changes of the reading instance.
	Handovers int `json:"handovers"`
	// MaxGapMS is the longest time, at a handover, between the last
	// request (or connection close) of one instance and the first of the
	// next: how long the provider went unread.
	MaxGapMS int64 `json:"max_gap_ms"`
	// Violations are moments two instances read at once, or an instance
	// read again after another had taken over.
	Violations []string `json:"violations"`
}

// readerLog watches the instances reading one provider. Two instances
// reading at once (overlapping requests or connections) is a violation.
// With returnQuiet set, so is an instance reading again within returnQuiet
// of another instance's read after that one had taken over: two pollers
// that never overlap still alternate like that, while a lease handed back
// takes longer (the source stops on one instance, then starts on the other).
type readerLog struct {
	returnQuiet time.Duration

	mu         sync.Mutex
	open       map[string]int
	last       string
	lastSeen   time.Time
	superseded map[string]bool
	r          Readers
}

// enter records a read by instance (a request, or a connection until
// leave is called). Reads without the header are not tracked.
func (l *readerLog) enter(instance string) (leave func()) {
	if instance == "" {
		return func() {}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open, l.superseded = map[string]int{}, map[string]bool{}
	}
	now := time.Now()
	for other, n := range l.open {
		if other != instance && n > 0 {
			l.r.Violations = append(l.r.Violations, fmt.Sprintf("%s: %s read while %s was reading", now.Format(time.RFC3339Nano), instance, other))
		}
	}
	if l.superseded[instance] && l.last != instance && now.Sub(l.lastSeen) < l.returnQuiet {
		l.r.Violations = append(l.r.Violations, fmt.Sprintf("%s: %s read again after another instance took over", now.Format(time.RFC3339Nano), instance))
	}
	if l.last != "" && l.last != instance {
		l.superseded[l.last] = true
		delete(l.superseded, instance)
		l.r.Handovers++
		if l.open[l.last] == 0 {
			l.r.MaxGapMS = max(l.r.MaxGapMS, now.Sub(l.lastSeen).Milliseconds())
		}
	}
	l.last, l.lastSeen = instance, now
	l.open[instance]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.open[instance]--
		if l.last == instance {
			l.lastSeen = time.Now()
		}
	}
}

func (l *readerLog) snapshot() Readers {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.r
	r.Violations = append([]string{}, l.r.Violations...)
	return r
}

// track wraps h so that every request is recorded in l, for as long as it
// is served (a WebSocket for its whole life).
func track(l *readerLog, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer l.enter(r.Header.Get(InstanceHeader))()
		h.ServeHTTP(w, r)
	})
}

// readerSource is implemented by simulators that watch their readers.
type readerSource interface {
	Readers() map[string]Readers
}

// duplicateCompletes lists the batch ids a complete was asked for more
// than once: with one reader per feed, a completed batch is never fetched
// (so never completed) again.
func duplicateCompletes(attempts []string) []string {
	seen := map[string]int{}
	out := []string{}
	for _, id := range attempts {
		seen[id]++
		if seen[id] == 2 {
			out = append(out, "batch "+id+" completed twice")
		}
	}
	slices.Sort(out)
	return out
}
