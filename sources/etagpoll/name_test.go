package etagpoll

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary"
)

// keyStore is a Checkpointer that keeps nothing but the keys asked for.
type keyStore struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyStore) Load(_ context.Context, key string, _ any) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, key)
	return false, nil
}

func (k *keyStore) Save(_ context.Context, key string, _ any) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, key)
	return nil
}

func (k *keyStore) first() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys) == 0 {
		return ""
	}
	return k.keys[0]
}

// TestNameFromThePipeline: the source's name is given once, by the router
// (Instrument), and is its messages' tributary_source and, unless
// CheckpointKey is set, its checkpoint key; a source given neither cannot
// subscribe, since it would not know where its cursor lives.
func TestNameFromThePipeline(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.add(1)
	for _, c := range []struct {
		desc, name, key     string
		wantKey, wantSource string
		wantErr             bool
	}{
		{desc: "named by the router", name: "doors", wantKey: "etagpoll/doors", wantSource: "doors"},
		{desc: "named, key set", name: "doors", key: "kept", wantKey: "kept", wantSource: "doors"},
		{desc: "outside a router, key set", key: "kept", wantKey: "kept"},
		{desc: "neither", wantErr: true},
	} {
		store := &keyStore{}
		s, err := NewSource(Config{BaseURL: api.srv.URL, Checkpoints: store, CheckpointKey: c.key,
			StartFrom: time.Now().Add(-time.Hour)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.name != "" {
			s.Instrument(nil, "p", c.name)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := subscribe(ctx, s)
		if c.wantErr {
			if err == nil {
				t.Errorf("%s: Subscribe succeeded without a name or a checkpoint key", c.desc)
			}
			cancel()
			_ = stop(s)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.desc, err)
		}
		select {
		case msg := <-ch:
			if got := msg.Metadata.Get(tributary.MetaSource); got != c.wantSource {
				t.Errorf("%s: tributary_source %q, want %q", c.desc, got, c.wantSource)
			}
			msg.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no message", c.desc)
		}
		if got := store.first(); got != c.wantKey {
			t.Errorf("%s: checkpoint key %q, want %q", c.desc, got, c.wantKey)
		}
		cancel()
		_ = stop(s)
	}
}
