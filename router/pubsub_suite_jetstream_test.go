package router_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
)

// TestJetStreamTopicsPassUniversalPubSubSuite runs Watermill's own Pub/Sub
// suite, at its short volume, against JetStream topics exactly as the
// router configures them (durable consumer per group, explicit double
// acks, NakWithDelay on nack).
//
// Not parallel with the package's other tests: run beside the Postgres
// suite, its load on two cores breaks that suite's order across ten
// subscribers of one group under -race (pgtopic's, seen three runs in
// three); run first, on its own, it costs its ~10 s once.
func TestJetStreamTopicsPassUniversalPubSubSuite(t *testing.T) {
	srv := natstest.Start(t)
	backend := router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pgtest.NewPool(t)})
	logger := watermill.NopLogger{}

	withGroup := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		pub, err := backend.Publisher(logger)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := backend.Subscriber(group, logger)
		if err != nil {
			t.Fatal(err)
		}
		return pub, sub
	}
	tests.TestPubSub(t, tests.Features{
		ConsumerGroups:      true,
		ExactlyOnceDelivery: false,
		GuaranteedOrder:     true,
		Persistent:          true,
		ForceShort:          true,
	}, func(t *testing.T) (message.Publisher, message.Subscriber) {
		return withGroup(t, "test")
	}, withGroup)
}
