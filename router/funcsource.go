package router

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// FuncSubscriber is a source that calls a function with each message
// instead of sending it on a channel. The router prefers it when a source
// offers it: a channel needs a goroutine on each end for as long as the
// source runs, while a function is called only when there is something to
// hand on, so a thousand mostly idle sources cost no goroutines between
// their polls (sources/etagpoll implements it).
//
// SubscribeFunc returns at once. handle ingests the message and acks it
// once it is durably in the topic, or nacks it; the source redelivers
// nacked messages as it would from Subscribe. Close stops the source and
// returns once no handle call is under way.
type FuncSubscriber interface {
	message.Subscriber
	SubscribeFunc(ctx context.Context, topic string, handle func(*message.Message)) error
}

// BatchFuncSubscriber is a source that hands on groups of messages — a
// fetched page, a batch, a burst — each stored by one ingest statement
// instead of one per message: a source with one group in flight pays one
// round trip and one commit per group, not per event. The router prefers it
// to FuncSubscriber and to Subscribe.
//
// SubscribeBatchFunc returns at once. handle stores the group in the
// topic, in its order, and returns nil only once it is committed (having
// acked every message of it); an error nacks every message, and the source
// hands the same group on again, keeping its cursor where the group began.
// With the Postgres backend a failed group stored nothing (one statement);
// the JetStream backend publishes a group's messages one by one, and those
// of a retried group already published are dropped as duplicates by their
// message ids. A message whose dedup key was seen
// before (earlier in the group too) is acked as a duplicate. A source that
// needs its order kept has one group in flight at a time. Close stops the
// source and returns once no handle call is under way.
type BatchFuncSubscriber interface {
	message.Subscriber
	SubscribeBatchFunc(ctx context.Context, topic string, handle func(ctx context.Context, msgs []*message.Message) error) error
}

// funcSource is a FuncSubscriber or BatchFuncSubscriber source of a
// pipeline, run by the router itself rather than as a Watermill handler.
type funcSource struct {
	sub    message.Subscriber
	topic  string
	handle func(*message.Message)
	group  func(context.Context, []*message.Message) error
}

// subscribe starts the source with the router's handle function.
func (f funcSource) subscribe(ctx context.Context) error {
	if bs, ok := f.sub.(BatchFuncSubscriber); ok {
		return bs.SubscribeBatchFunc(ctx, f.topic, f.group)
	}
	return f.sub.(FuncSubscriber).SubscribeFunc(ctx, f.topic, f.handle)
}

// takesFunc says whether the router runs a source by a function.
func takesFunc(sub message.Subscriber) bool {
	switch sub.(type) {
	case BatchFuncSubscriber, FuncSubscriber:
		return true
	}
	return false
}
