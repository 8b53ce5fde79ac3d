// Package jstopic keeps the router's topics in NATS JetStream: a stream per
// pipeline topic, a durable pull consumer per consumer group (a sink),
// shared by every instance that reads as that group, and a work-queue
// stream per pipeline for its sinks' delayed retries. Messages travel in
// watermill-nats's wire format (payload as data, metadata as headers,
// the UUID in _watermill_message_uuid), so its own subscribers can read
// them.
//
//	js, _ := jetstream.New(nc)
//	pub := jstopic.NewPublisher(js, jstopic.Config{})
//	sub := jstopic.NewSubscriber(js, jstopic.Config{Group: "crm"}, logger)
package jstopic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config configures publishers and subscribers.
type Config struct {
	// Group is the consumer group a subscriber reads as (the durable
	// consumer's name). Required for subscribers, except on retry topics,
	// which are read by the sink they name.
	Group string
	// Replicas of each stream created; 1 when zero.
	Replicas int
	// DuplicateWindow is how long a stream remembers Nats-Msg-Id values to
	// drop a repeated publish; 2 min (JetStream's default) when zero.
	DuplicateWindow time.Duration
	// AckWait is how long a message handed to an instance that stopped
	// answering waits before the group gets it again; 30 s when zero. A
	// delivery under way tells the server it is still working every
	// AckWait/3, so a slow delivery is not repeated.
	AckWait time.Duration
	// MaxInFlight is how many messages the group has out at once, across
	// every instance reading as it (the consumer's MaxAckPending; on a
	// retry topic, per subscription); 1 (topic order) when zero.
	MaxInFlight int
	// DrainTimeout is how long Close waits for deliveries under way; 30 s
	// when zero. What is still under way then is redelivered after AckWait.
	DrainTimeout time.Duration
	// NackDelay is how long a nacked message waits before it is delivered
	// again; 1 s when zero.
	NackDelay time.Duration
}

func (c *Config) setDefaults() {
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.DuplicateWindow = cmp.Or(c.DuplicateWindow, 2*time.Minute)
	c.AckWait = cmp.Or(c.AckWait, 30*time.Second)
	c.MaxInFlight = cmp.Or(c.MaxInFlight, 1)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, 30*time.Second)
	c.NackDelay = cmp.Or(c.NackDelay, time.Second)
}

// retryMarker separates a pipeline topic from a sink's name in a retry
// topic: "tributary.<pipeline>.retry.<sink>" (router.RetryTopic).
const retryMarker = ".retry."

// place is where a topic lives: its stream, the subjects the stream holds,
// and the subject a consumer of the topic filters on.
type place struct {
	stream   string
	subjects []string
	subject  string
	retry    bool
	// sink is a retry topic's sink: its consumer's name when no group is given.
	sink string
}

// placeOf maps a topic to its stream. Stream names cannot hold '.', so dots
// become '_'. A retry topic shares a work-queue stream with its pipeline's
// other sinks: each sink's consumer filters on its own subject.
func placeOf(topic string) place {
	if i := strings.LastIndex(topic, retryMarker); i > 0 {
		base := topic[:i]
		return place{
			stream:   streamName(base) + "_retry",
			subjects: []string{base + retryMarker + "*"},
			subject:  topic,
			retry:    true,
			sink:     topic[i+len(retryMarker):],
		}
	}
	return place{stream: streamName(topic), subjects: []string{topic}, subject: topic}
}

func streamName(topic string) string {
	return strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(topic)
}

// StreamName returns the name of the stream that holds topic.
func StreamName(topic string) string { return placeOf(topic).stream }

// EnsureStream creates topic's stream if it does not exist (file storage).
// A pipeline topic's stream keeps a message until every consumer group has
// acked it (interest retention: the server removes it then, message by
// message); a retry stream is a work queue, each message removed once its
// sink acks it. An existing stream with another retention is refused:
// its messages would never be removed, or be removed before delivery.
//
// Nothing purges a pipeline stream: nats-server before 2.9.15 forgets
// every consumer's unacked deliveries on any purge, even a purge below
// them (nats-server commit 6c9a9fb), so a message in flight on an
// instance that died was never delivered again.
func EnsureStream(ctx context.Context, js jetstream.JetStream, topic string, cfg Config) (jetstream.Stream, error) {
	cfg.setDefaults()
	p := placeOf(topic)
	sc := jetstream.StreamConfig{
		Name:       p.stream,
		Subjects:   p.subjects,
		Storage:    jetstream.FileStorage,
		Replicas:   cfg.Replicas,
		Duplicates: cfg.DuplicateWindow,
		Retention:  jetstream.InterestPolicy,
	}
	if p.retry {
		sc.Retention = jetstream.WorkQueuePolicy
	}
	s, err := js.Stream(ctx, p.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, p.stream)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", p.stream, err)
	}
	if got := s.CachedInfo().Config.Retention; got != sc.Retention {
		return nil, fmt.Errorf("stream %s has %s retention, want %s: it was made by another program or an earlier version (remove it with `nats stream rm %s` once drained)",
			p.stream, got, sc.Retention, p.stream)
	}
	return s, nil
}

// EnsureConsumer creates the durable consumer that group reads topic with
// (explicit acks, every message from the stream's start), or updates it to
// cfg.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, topic string, cfg Config) (jetstream.Consumer, error) {
	cfg.setDefaults()
	p := placeOf(topic)
	if cfg.Group = cmp.Or(cfg.Group, p.sink); cfg.Group == "" {
		return nil, errors.New("jstopic: a consumer group is required")
	}
	s, err := EnsureStream(ctx, js, topic, cfg)
	if err != nil {
		return nil, err
	}
	name := streamName(cfg.Group)
	cc := jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
		// The server hands out at most MaxInFlight unacked messages to the
		// group as a whole, whichever instances read it: with 1, the
		// group receives the topic in order, as on Postgres.
		MaxAckPending: cfg.MaxInFlight,
	}
	if p.retry {
		cc.FilterSubject = p.subject
		// A retry waiting its delay counts as pending: never let the
		// waiting ones stop the due ones from being handed out.
		cc.MaxAckPending = 1 << 20
	}
	c, err := s.CreateOrUpdateConsumer(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s of %s: %w", name, p.stream, err)
	}
	return c, nil
}

// Depth is how many of topic's messages group has not acked: those not
// yet delivered and those in flight (on a retry topic, its sink's waiting
// retries). A topic or group not created yet has none.
func Depth(ctx context.Context, js jetstream.JetStream, topic, group string) (int64, error) {
	p := placeOf(topic)
	group = cmp.Or(group, p.sink)
	c, err := js.Consumer(ctx, p.stream, streamName(group))
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("depth of %s for %s: %w", topic, group, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("depth of %s for %s: %w", topic, group, err)
	}
	return int64(info.NumPending) + int64(info.NumAckPending), nil
}
