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

// funcSource is a FuncSubscriber source of a pipeline, run by the router
// itself rather than as a Watermill handler.
type funcSource struct {
	sub    FuncSubscriber
	topic  string
	handle func(*message.Message)
}
