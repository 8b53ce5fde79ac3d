package webhook_test

import (
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestDotIDsAreRefused: an event whose id is "." or ".." cannot stand for
// {id}: the URL would name the collection or its parent (receivers
// normalise dot segments, %2E included), so the event fails permanently
// (poisoned for this sink) and nothing is sent; other ids with dots go.
func TestDotIDsAreRefused(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	p := newSink(t, webhook.Config{URL: rc.URL + "/comments/{id}", Method: "PUT"})
	for _, id := range []string{".", ".."} {
		err := p.Publish("crm", event(id, `{}`))
		if err == nil || !middleware.IsPermanent(err) || !strings.Contains(err.Error(), "{id}") {
			t.Errorf("event id %q: %v, want a permanent error naming {id}", id, err)
		}
	}
	if n := len(rc.Requests()); n != 0 {
		t.Fatalf("%d requests sent for dot ids", n)
	}
	for _, id := range []string{"...", ".a", "a..b"} {
		if err := p.Publish("crm", event(id, `{}`)); err != nil {
			t.Errorf("event id %q: %v", id, err)
		}
	}
	for i, r := range rc.Requests() {
		if want := "/comments/" + []string{"...", ".a", "a..b"}[i]; r.Path != want {
			t.Errorf("path %q, want %q", r.Path, want)
		}
	}
}
