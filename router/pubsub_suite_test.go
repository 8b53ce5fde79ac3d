package router_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
)

// TestTopicsPassUniversalPubSubSuite runs Watermill's own Pub/Sub test suite,
// at its full volume, against the topic layer exactly as the router
// configures it.
func TestTopicsPassUniversalPubSubSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: Watermill's universal suite against PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	backend := router.Postgres(pool)
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
	// Full volume (10,000 messages in the larger cases): about 70 s here.
	// Delivery is at least once (a crash repeats the claim in flight), and
	// a consumer group receives a topic in order whichever of its
	// subscribers claims next (pgtopic's default, unshared groups).
	tests.TestPubSub(t, tests.Features{
		ConsumerGroups:      true,
		ExactlyOnceDelivery: false,
		GuaranteedOrder:     true,
		Persistent:          true,
	}, func(t *testing.T) (message.Publisher, message.Subscriber) {
		return withGroup(t, "test")
	}, withGroup)
}
