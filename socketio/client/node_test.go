package client_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/nodepeer"
	"github.com/tributary-dev/tributary/socketio/client"
)

// TestAgainstNodeSocketIO2: against the npm socket.io 2.x server, the client
// is refused with a stale token and connects with a fresh one, receives
// events, renews its token on invalidToken without reconnecting and
// receives what the server held back meanwhile, and reconnects after the
// server restarts.
func TestAgainstNodeSocketIO2(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs node")
	}
	t.Parallel()
	peer := nodepeer.Start(t, "node-tok-1111")
	var token atomic.Value
	token.Store("node-tok-stale")
	c, rec := start(t, client.Config{URL: peer.URL(), OpenTimeout: 5 * time.Second, RenewMinInterval: 100 * time.Millisecond,
		TokenProvider: client.TokenFunc(func(context.Context) (string, error) {
			tok := token.Load().(string)
			if tok == "node-tok-stale" {
				token.Store("node-tok-1111") // the next fetch is fresh
			}
			return tok, nil
		})})
	connected(t, c)
	if st := c.Status(); st.Reconnects < 1 || !strings.Contains(st.LastError, "refused") || strings.Contains(st.LastError, "node-tok") {
		t.Fatalf("status %+v; want one refusal that quotes no token", st)
	}
	peer.Emit("door.opened", map[string]int{"doorId": 1})
	waitFor(t, "door.opened", func() bool { return rec.has("door.opened") })

	token.Store("node-tok-2222")
	peer.Rotate("node-tok-2222")
	peer.Emit("door.held", map[string]int{"doorId": 2})
	waitFor(t, "the event held behind invalidToken", func() bool { return rec.has("door.held") })
	if st := c.Status(); st.Connects != 1 {
		t.Errorf("the renewal reconnected (%d connects)", st.Connects)
	}

	peer.Stop()
	peer.Restart("node-tok-2222")
	waitFor(t, "a reconnect after the restart", func() bool { st := c.Status(); return st.Connects >= 2 && st.State == client.StateConnected })
	waitFor(t, "the server to see the client", func() bool { return peer.Clients() == 1 })
	peer.Emit("door.after", map[string]int{"doorId": 3})
	waitFor(t, "door.after", func() bool { return rec.has("door.after") })
}
