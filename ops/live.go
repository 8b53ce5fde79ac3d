package ops

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/tributary-dev/tributary/store"
)

// depthSample is every sink's queue depths at one moment.
type depthSample struct {
	T      int64   `json:"t"` // unix seconds
	Depths []Depth `json:"depths"`
}

// depthHistory keeps the last hour of depth samples in memory: depths are
// not logged anywhere, and a restart losing the chart's past is acceptable.
type depthHistory struct {
	mu      sync.Mutex
	samples []depthSample
}

func (h *depthHistory) add(s depthSample, keep time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	cut := time.Unix(s.T, 0).Add(-keep).Unix()
	i := slices.IndexFunc(h.samples, func(x depthSample) bool { return x.T >= cut }) // s itself at worst
	h.samples = slices.Clone(h.samples[i:])
}

func (h *depthHistory) last() (depthSample, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == 0 {
		return depthSample{}, false
	}
	return h.samples[len(h.samples)-1], true
}

func (h *depthHistory) all() []depthSample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.samples)
}

// sampleDepths records the depths now, unless a sample is fresher than
// DepthSampleEvery.
func (a *Admin) sampleDepths(ctx context.Context) {
	if s, ok := a.depths.last(); ok && time.Since(time.Unix(s.T, 0)) < a.cfg.DepthSampleEvery {
		return
	}
	ds, err := QueueDepths(ctx, a.cfg.Pool, a.cfg.Pipelines)
	if err != nil {
		a.cfg.Logger.Debug("Sampling queue depths for the live page failed", watermill.LogFields{"error": err.Error()})
		return
	}
	a.depths.add(depthSample{T: time.Now().Unix(), Depths: ds}, time.Hour)
}

// SampleDepths samples queue depths every DepthSampleEvery until ctx ends,
// so the live page's depth chart has the hour before anyone opened it.
func (a *Admin) SampleDepths(ctx context.Context) {
	t := time.NewTicker(a.cfg.DepthSampleEvery)
	defer t.Stop()
	for {
		a.sampleDepths(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// liveFrame is one server-sent event of the live page.
type liveFrame struct {
	Now    int64              `json:"now"`
	Series []store.SinkSeries `json:"series"`
	Depths []depthSample      `json:"depths"`
	Error  string             `json:"error,omitempty"`
}

// liveFrame returns the current frame, computed at most once per
// LiveInterval however many pages stream it: its queries read the last
// hour of the delivery log.
func (a *Admin) liveFrame(ctx context.Context) liveFrame {
	a.live.mu.Lock()
	defer a.live.mu.Unlock()
	if time.Since(a.live.at) < a.cfg.LiveInterval/2 {
		return a.live.frame
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	a.sampleDepths(qctx)
	now := time.Now()
	f := liveFrame{Now: now.Unix(), Depths: a.depths.all()}
	series, err := store.ThroughputSince(qctx, a.cfg.Pool, now.Add(-time.Hour).Truncate(time.Minute))
	if err != nil {
		f.Error = a.redact.Text(err.Error())
	}
	f.Series = series
	a.live.frame, a.live.at = f, time.Now()
	return f
}

// liveCache is the frame the streams share.
type liveCache struct {
	mu    sync.Mutex
	frame liveFrame
	at    time.Time
}

func (a *Admin) livePage(w http.ResponseWriter, r *http.Request) {
	d := a.data(r, "Live")
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	d.Nonce = base64.StdEncoding.EncodeToString(b)
	a.render(w, "live", d)
}

// liveStream sends a frame every LiveInterval as server-sent events until
// the client goes away.
func (a *Admin) liveStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	t := time.NewTicker(a.cfg.LiveInterval)
	defer t.Stop()
	for {
		b, err := json.Marshal(a.liveFrame(r.Context()))
		if err != nil {
			return
		}
		if _, err := w.Write([]byte("event: frame\ndata: " + string(b) + "\n\n")); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-a.closed:
			return
		case <-t.C:
		}
	}
}

// Close ends the live page's streams (their browsers reconnect to whatever
// serves next). Call it before shutting the admin server down: Shutdown
// waits for open responses, and a stream never ends by itself.
func (a *Admin) Close() error {
	a.closeOnce.Do(func() { close(a.closed) })
	return nil
}
