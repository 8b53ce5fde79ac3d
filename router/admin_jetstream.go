package router

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/router/jstopic"
	"github.com/tributary-dev/tributary/store"
)

// PoisonQueue returns the poison queue of pipelines on this backend: its
// records are in Postgres like the Postgres backend's, and Replay puts a
// message back through JetStream, on its sink's retry stream.
func (b *JetStreamBackend) PoisonQueue() *PoisonQueue {
	return &PoisonQueue{pool: b.cfg.Pool, requeue: func(ctx context.Context, id int64, topic string, msg *message.Message) error {
		if _, err := b.connect(); err != nil {
			return err
		}
		_, pub, err := b.current()
		if err != nil {
			return err
		}
		// The record's id as Nats-Msg-Id: a replay repeated after a crash,
		// or by two operators at once, is stored once (within the window).
		_, err = pub.PublishWithIDs(ctx, topic, []*message.Message{msg}, []string{"replay:" + strconv.FormatInt(id, 10)})
		return err
	}}
}

// replayElsewhere replays through q.requeue: publish first, then delete the
// record. No transaction spans the publish; a crash between the two leaves
// the record, and replaying it again is dropped as a repeat.
func (q *PoisonQueue) replayElsewhere(ctx context.Context, id int64) error {
	rec, err := q.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := q.requeue(ctx, id, RetryTopic(rec.Pipeline, rec.Sink), replayMessage(rec)); err != nil {
		return fmt.Errorf("poison: replay %d: %w", id, err)
	}
	if err := store.DeletePoison(ctx, q.pool, id); err != nil {
		return fmt.Errorf("poison: replay %d: %w", id, err)
	}
	return nil
}

// SinkDepth is how much waits for sink of pipeline on this backend: lag,
// the pipeline topic's messages the sink has not acked (not delivered yet,
// or in flight), and retry, its messages waiting on its retry stream.
// What the Postgres backend's tables answer for the admin page's and the
// gauges' queue depths (ops.PipelineInfo.Depth).
func (b *JetStreamBackend) SinkDepth(ctx context.Context, pipeline, sink string) (lag, retry int64, err error) {
	js, err := b.connect()
	if err != nil {
		return 0, 0, err
	}
	if lag, err = jstopic.Depth(ctx, js, Topic(pipeline), sink); err != nil {
		return 0, 0, err
	}
	if retry, err = jstopic.Depth(ctx, js, RetryTopic(pipeline, sink), sink); err != nil {
		return 0, 0, err
	}
	return lag, retry, nil
}
