package router_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
)

// TestTopicsPassUniversalPubSubSuite runs Watermill's own Pub/Sub test suite
// against the topic layer exactly as the router configures it.
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
	tests.TestPubSub(t, tests.Features{
		ConsumerGroups:      true,
		ExactlyOnceDelivery: true,
		GuaranteedOrder:     true,
		Persistent:          true,
		// 100 messages per case instead of 10,000: the semantics are the same
		// and the full volume would take most of CI's test budget.
		ForceShort: true,
	}, func(t *testing.T) (message.Publisher, message.Subscriber) {
		return withGroup(t, "test")
	}, withGroup)
}
