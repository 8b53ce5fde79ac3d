package webhook_test

import (
	"testing"

	"github.com/tributary-dev/tributary/internal/sigpeer"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestReferenceReceiverVerifiesSink: the npm package standardwebhooks, run
// under node, verifies what the sink sends — signed with the receiver's
// secret alone, or with an old and a new secret during rotation — and Test
// reports the endpoint verified because the forged request gets a 401.
func TestReferenceReceiverVerifiesSink(t *testing.T) {
	t.Parallel()
	recv := sigpeer.Serve(t, secretA)
	for i, secrets := range [][]string{{secretA}, {secretB, secretA}, {secretA, secretB}} {
		p := newSink(t, webhook.Config{URL: recv.URL + "/hook", Secrets: secrets})
		if err := p.Publish("crm", event("evt-"+string(rune('a'+i)), `{"door":"front","n":[1,2,3]}`)); err != nil {
			t.Fatalf("secrets %d: reference receiver refused: %v", i, err)
		}
	}
	p := newSink(t, webhook.Config{URL: recv.URL + "/hook", Secrets: []string{secretB}})
	if err := p.Publish("crm", event("evt-wrong", `{}`)); err == nil {
		t.Fatal("reference receiver accepted a request signed with a secret it does not know")
	}

	ok := newSink(t, webhook.Config{URL: recv.URL + "/hook", Secrets: []string{secretA}})
	if res := ok.Test(t.Context()); !res.Verified {
		t.Fatalf("Test against the reference receiver: %+v", res)
	}
	if res := p.Test(t.Context()); res.Verified || res.Genuine.StatusCode != 401 {
		t.Fatalf("Test with the wrong secret: %+v, want not verified after a 401", res)
	}
	entries := recv.Log(t)
	verified := 0
	for _, e := range entries {
		if e.OK {
			verified++
		}
	}
	if verified != 4 { // three deliveries and one genuine test request
		t.Fatalf("reference receiver verified %d requests, want 4: %+v", verified, entries)
	}
}
