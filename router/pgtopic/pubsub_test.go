package pgtopic_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router/pgtopic"
)

// TestUniversalPubSubSuite runs Watermill's Pub/Sub suite against the topic
// layer with notifications and short claim leases, at its short volume (the
// router's suite runs the full volume against the layer as it configures it;
// PGTOPIC_SUITE_FULL=1 runs it here too).
func TestUniversalPubSubSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: Watermill's universal suite against PostgreSQL")
	}
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	notifier := pgtopic.NewNotifier(pool.Config().ConnConfig, nil)
	go notifier.Run(ctx)
	logger := watermill.NopLogger{}
	withGroup := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		sub, err := pgtopic.NewSubscriber(pool, pgtopic.SubscriberConfig{
			ConsumerGroup: group, Notifier: notifier, ClaimTTL: 2 * time.Second, DrainTimeout: 5 * time.Second,
		}, logger)
		if err != nil {
			t.Fatal(err)
		}
		return pgtopic.NewPublisher(pool), sub
	}
	tests.TestPubSub(t, tests.Features{
		ConsumerGroups:      true,
		ExactlyOnceDelivery: false,
		GuaranteedOrder:     true,
		Persistent:          true,
		ForceShort:          os.Getenv("PGTOPIC_SUITE_FULL") == "",
	}, func(t *testing.T) (message.Publisher, message.Subscriber) {
		return withGroup(t, "test")
	}, withGroup)
}
