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
}

func newReceiver(delay time.Duration) *receiver {
	return &receiver{got: map[string]int{}, delay: delay}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	time.Sleep(r.delay)
	r.mu.Lock()
	r.got[req.Header.Get("X-Event-Id")]++
	r.total++
	r.mu.Unlock()
}

func (r *receiver) counts() (distinct, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got), r.total
}
