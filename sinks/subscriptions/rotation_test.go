package subscriptions_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/sigpeer"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
)

const (
	oldSecret = "whsec_b2xkLXNlY3JldC1mb3ItdGhlLXJvdGF0aW9uLXRlc3Q="
	newSecret = "whsec_bmV3LXNlY3JldC1mb3ItdGhlLXJvdGF0aW9uLXRlc3Q="
)

// TestSecretRotationVerifiedByReferencePeer rotates an endpoint's secret
// while two receivers run the npm standardwebhooks package — one still on
// the old secret, one already on the new — and checks through the overlap:
// before, only the old verifies; during the overlap both do; once the old
// secret expired, only the new one does.
func TestSecretRotationVerifiedByReferencePeer(t *testing.T) {
	t.Parallel()
	onOld, onNew := sigpeer.Serve(t, oldSecret), sigpeer.Serve(t, newSecret)
	// The endpoint's URL: a fork to both receivers, so each verifies the
	// very same request.
	fork := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for _, u := range []string{onOld.URL, onNew.URL} {
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, u+"/hook", bytes.NewReader(body))
			req.Header = r.Header.Clone()
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer fork.Close()

	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	sink := newSink(t, pool, "rotate")
	ep := addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "rotate", URL: fork.URL, Types: []string{"a"},
		Secrets: []subscriptions.Secret{{Secret: oldSecret}}})
	waitIndexed(t, sink, ep.ID, true)

	verdicts := func(id string) (old, new bool) {
		for _, e := range onOld.Log(t) {
			old = old || (e.ID == id && e.OK)
		}
		for _, e := range onNew.Log(t) {
			new = new || (e.ID == id && e.OK)
		}
		return old, new
	}
	send := func(id string) (old, new bool) {
		t.Helper()
		publish(t, sink, event(id, "a", nil))
		pipelinetest.WaitFor(t, 30*time.Second, "both receivers to see "+id, func() bool {
			return countID(onOld.Log(t), id) > 0 && countID(onNew.Log(t), id) > 0
		})
		return verdicts(id)
	}

	if old, new := send("before"); !old || new {
		t.Fatalf("before the rotation: old receiver verified=%v, new=%v; want true, false", old, new)
	}
	const overlap = 4 * time.Second
	ctx := context.Background()
	rotated, err := store.Rotate(ctx, ep.ID, newSecret, overlap, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated.Secrets) != 2 || rotated.Secrets[0].Secret != newSecret || rotated.Secrets[1].ExpiresAt == nil {
		t.Fatalf("after Rotate: %+v, want the new secret first and the old one expiring", rotated.Redacted().Secrets)
	}
	waitVersion(t, sink, rotated)
	if old, new := send("overlap"); !old || !new {
		t.Fatalf("during the overlap: old receiver verified=%v, new=%v; want both", old, new)
	}
	time.Sleep(time.Until(*rotated.Secrets[1].ExpiresAt) + 100*time.Millisecond)
	if old, new := send("after"); old || !new {
		t.Fatalf("after the old secret expired: old receiver verified=%v, new=%v; want false, true", old, new)
	}
}

func countID(entries []sigpeer.Entry, id string) int {
	n := 0
	for _, e := range entries {
		if e.ID == id {
			n++
		}
	}
	return n
}

// waitVersion waits until the sink has read ep's row as stored, or later.
func waitVersion(t testing.TB, s *subscriptions.Sink, ep subscriptions.Endpoint) {
	t.Helper()
	pipelinetest.WaitFor(t, 30*time.Second, "the sink to read the change", func() bool {
		got, ok := s.Endpoint(ep.ID)
		return ok && got.Version >= ep.Version
	})
}
