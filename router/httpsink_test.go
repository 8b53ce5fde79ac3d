package router_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// httpSink POSTs each message to a URL; a non-2xx answer is an error. It is
// the smallest real sink, for tests that cross process boundaries.
type httpSink struct {
	url    string
	client *http.Client
}

func (s httpSink) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		req, err := http.NewRequestWithContext(m.Context(), http.MethodPost, s.url, bytes.NewReader(m.Payload))
		if err != nil {
			return err
		}
		req.Header.Set("X-Event-Id", tributary.EventID(m))
		req.Header.Set("X-Sent-At", m.Metadata.Get("sent_at"))
		resp, err := s.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("receiver answered %d", resp.StatusCode)
		}
	}
	return nil
}

func (httpSink) Close() error { return nil }

// receiver counts the event ids it is sent.
type receiver struct {
	mu    sync.Mutex
	got   map[string]int
	total int
	delay time.Duration
	// gate, once closed by hold, holds every request until release, then
	// refuses it uncounted: a sender killed meanwhile died mid-delivery,
	// and only its redelivery can bring the event.
	gate    chan struct{}
	holding int
}

func newReceiver(delay time.Duration) *receiver {
	return &receiver{got: map[string]int{}, delay: delay}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	time.Sleep(r.delay)
	r.mu.Lock()
	if gate := r.gate; gate != nil {
		r.holding++
		r.mu.Unlock()
		<-gate
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	r.got[req.Header.Get("X-Event-Id")]++
	r.total++
	r.mu.Unlock()
}

// hold holds every request from now on until release, which refuses
// them (503, uncounted) and lets later requests through.
func (r *receiver) hold() (release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gate := make(chan struct{})
	r.gate = gate
	return sync.OnceFunc(func() {
		r.mu.Lock()
		r.gate = nil
		r.mu.Unlock()
		close(gate)
	})
}

// held is how many requests hold has held so far.
func (r *receiver) held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holding
}

func (r *receiver) counts() (distinct, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got), r.total
}
