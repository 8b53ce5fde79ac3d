package pgtopic_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router/pgtopic"
)

// TestPruneKeepsWhatAGroupStillNeeds: pruning deletes only messages every
// group has finished, and only once they are older than the retention.
func TestPruneKeepsWhatAGroupStillNeeds(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	const topic = "prune"
	pub := pgtopic.NewPublisher(pool)
	for range 10 {
		if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := pgtopic.Prune(ctx, pool, topic, 0); err != nil || n != 0 {
		t.Fatalf("with no consumer group: pruned %d (%v), want 0", n, err)
	}
	consume := func(group string, n int) {
		sub, err := pgtopic.NewSubscriber(pool, pgtopic.SubscriberConfig{ConsumerGroup: group, BatchSize: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			select {
			case m := <-ch:
				m.Ack()
			case <-time.After(10 * time.Second):
				t.Fatal("no message")
			}
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
	}
	consume("a", 10)
	consume("b", 4)
	if n, err := pgtopic.Prune(ctx, pool, topic, time.Hour); err != nil || n != 0 {
		t.Fatalf("within the retention: pruned %d (%v), want 0", n, err)
	}
	n, err := pgtopic.Prune(ctx, pool, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Group b finished 4 (its claim of the 5th, handed back on Close, is unfinished).
	if n != 4 {
		t.Fatalf("pruned %d, want the 4 both groups finished", n)
	}
	consume("b", 6)
	if n, err := pgtopic.Prune(ctx, pool, topic, 0); err != nil || n != 6 {
		t.Fatalf("after b finished: pruned %d (%v), want 6", n, err)
	}
}
