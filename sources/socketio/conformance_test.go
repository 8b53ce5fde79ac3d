package socketio_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/sources/socketio"
	"github.com/tributary-dev/tributary/tributarytest"
)

var conformanceIDs atomic.Int64

// TestConformance runs the source contract's suite: every event of the
// socket is handed on in order (max_in_flight 1), one whose storing failed
// is handed on again from memory, and the source stops cleanly. A socket
// cannot replay, so a source started again does not read what it read
// before: no Restarts.
func TestConformance(t *testing.T) {
	t.Parallel()
	tributarytest.TestSource(t, tributarytest.Features{Ordered: true}, func(t *testing.T) tributarytest.Harness {
		srv, url := startServer(t, socketiotest.Config{})
		sub, err := socketio.NewSubscriber(socketio.Config{Socket: fastSocket(url)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tributarytest.Harness{Source: tributary.FromSubscriber(sub, ""), Publish: func(t *testing.T, n int) []string {
			if err := srv.WaitClients(context.Background(), "/", 1); err != nil {
				t.Error(err)
			}
			var ids []string
			for range n {
				id := fmt.Sprintf("sio-%d", conformanceIDs.Add(1))
				srv.Emit("/", "door.unlocked", map[string]string{"id": id})
				ids = append(ids, id)
			}
			return ids
		}}
	})
}
