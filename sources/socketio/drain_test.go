package socketio_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// TestCloseHandsOnEverythingReceived: events already read off the socket
// when the source is closed are still handed on until acked — a socket
// cannot send them again — while the connection is closed at once, so
// nothing new is read. (Before, Close dropped every pending event.)
func TestCloseHandsOnEverythingReceived(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	name := fmt.Sprintf("drain-%d", time.Now().UnixNano())
	sub, err := socketio.NewSubscriber(socketio.Config{Socket: fastSocket(name, url)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(context.Background(), "events")
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, srv, "/", 1)
	const n = 50
	at := time.Now()
	for i := range n {
		srv.Emit("/", "door.request.allowed", socketiotest.SampleEvent("door.request.allowed", socketiotest.Door{ID: i + 1, Name: "Front"}, at, i))
	}
	pipelinetest.WaitFor(t, 10*time.Second, "every event to be received", func() bool { return sub.Pending() == n })

	// A slow pipeline: 20 ms per ack, so most events are still pending when
	// Close is called.
	acked := make(chan int)
	go func() {
		count := 0
		for m := range ch {
			time.Sleep(20 * time.Millisecond)
			m.Ack()
			count++
		}
		acked <- count
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() { _ = sub.Close(); close(closed) }()
	pipelinetest.WaitFor(t, 10*time.Second, "the connection to close", func() bool {
		return sub.Status().State != client.StateConnected
	})
	if got := <-acked; got != n {
		t.Fatalf("%d of %d received events were handed on and acked after Close", got, n)
	}
	<-closed
	if p := sub.Pending(); p != 0 {
		t.Fatalf("%d events left pending", p)
	}
}
