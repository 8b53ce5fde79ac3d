package builtin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tributary-dev/tributary"
)

// TestTransformHeadersReachTheReceiver: the headers a sink's transform
// derives from the event are sent by the webhook and the http sink, beside
// the webhook sink's default metadata headers.
func TestTransformHeadersReachTheReceiver(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string]http.Header{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Header.Clone()
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	file := pipelineFile(genSource, `      - name: hook
        type: webhook
        options: { url: "`+srv.URL+`/hook", allow_private_networks: true, delivery_log: false }
        transform:
          headers: { X-Door: payload.door.name }
      - name: plain
        type: http
        options: { url: "`+srv.URL+`/plain", allow_private_networks: true }
        transform:
          headers: { x-door: payload.door.name }
`)
	cfg, err := load(t, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	pipes, err := cfg.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range pipes[0].Sinks {
		defer s.Publisher.Close()
		msg := tributary.NewEventMessage("e1", []byte(`{"door":{"name":"Main entrance"}}`))
		msg.Metadata.Set(tributary.MetaEventType, "door.unlocked")
		msg.SetContext(context.Background())
		out, err := s.Transform(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Publisher.Publish(s.Name, out); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, path := range []string{"/hook", "/plain"} {
		if v := got[path].Get("X-Door"); v != "Main entrance" {
			t.Errorf("%s: X-Door %q, want the transform's value", path, v)
		}
	}
	if v := got["/hook"].Get("X-Tributary-Event-Type"); v != "door.unlocked" {
		t.Errorf("webhook lost its default metadata headers: X-Tributary-Event-Type %q", v)
	}
}
