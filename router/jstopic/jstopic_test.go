package jstopic_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/router/jstopic"
)

// TestEnsureStreamRetention: a pipeline topic's stream keeps a message
// while a consumer group has not acked it (interest), a retry topic's is a
// work queue, and a stream found with another retention is refused rather
// than used: with limits retention nothing would ever remove its messages.
func TestEnsureStreamRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nc, err := nats.Connect(natstest.Start(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]jetstream.RetentionPolicy{
		"tributary.p":            jetstream.InterestPolicy,
		"tributary.p.retry.hook": jetstream.WorkQueuePolicy,
	} {
		s, err := jstopic.EnsureStream(ctx, js, topic, jstopic.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Retention; got != want {
			t.Errorf("%s: retention %s, want %s", topic, got, want)
		}
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: jstopic.StreamName("tributary.old"),
		Subjects: []string{"tributary.old"}, Retention: jetstream.LimitsPolicy}); err != nil {
		t.Fatal(err)
	}
	_, err = jstopic.EnsureStream(ctx, js, "tributary.old", jstopic.Config{})
	if err == nil || !strings.Contains(err.Error(), "nats stream rm tributary_old") {
		t.Fatalf("a limits stream: %v; want it refused with how to remove it", err)
	}
}
