package router_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/router"
)

// printSink is a sink: any message.Publisher. It prints what it delivers.
type printSink struct{ delivered chan<- string }

func (s printSink) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		s.delivered <- tributary.EventID(m) + " " + string(m.Payload)
	}
	return nil
}

func (printSink) Close() error { return nil }

// A pipeline on the in-memory backend (for tests; router.Postgres for
// durable pipelines): events from a source, deduplicated by event id, to a
// sink. The source here is a Watermill GoChannel; any message.Subscriber
// will do.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	source := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, watermill.NopLogger{})
	delivered := make(chan string)
	r, err := router.New(router.Config{Backend: router.Memory()}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "door-events", Source: tributary.FromSubscriber(source, "door-events")}},
		Sinks:   []router.Sink{{Name: "crm", Publisher: printSink{delivered}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	publish := func(id, body string) {
		if err := source.Publish("door-events", tributary.NewEventMessage(id, []byte(body))); err != nil {
			log.Fatal(err)
		}
	}
	publish("ev-1", `{"door":"front","state":"open"}`)
	fmt.Println(<-delivered)
	publish("ev-1", `{"door":"front","state":"open"}`) // a redelivery: dropped
	publish("ev-2", `{"door":"front","state":"closed"}`)
	fmt.Println(<-delivered)

	cancel()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// ev-1 {"door":"front","state":"open"}
	// ev-2 {"door":"front","state":"closed"}
}
