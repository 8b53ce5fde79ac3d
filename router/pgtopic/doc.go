// Package pgtopic keeps Watermill topics in PostgreSQL without holding a
// transaction open while a message is handled, and without reading below the
// server-wide transaction horizon.
//
// A topic is a log of rows in tributary_messages. Writers lock the topic
// (a transaction-level advisory lock) before they draw offsets and keep the
// lock until they commit, so a topic's offsets become visible in increasing
// order. A consumer group keeps a position; a Subscriber claims the next
// batch past it in one short transaction (moving the position and recording
// the claim with a lease), commits, and only then hands the messages to the
// handler. When every message of the claim is acked the claim is deleted;
// when the Subscriber stops cleanly it waits for what is in flight and hands
// back the rest; when its process dies the lease runs out and another
// Subscriber of the group takes the claim over. Nothing is lost, and a crash
// repeats at most one claim (BatchSize messages) per subscription.
//
// Delayed queues (a sink's retries) live in tributary_queue: each row has a
// due time and is claimed with a lease the same way.
//
// Order: with MaxInFlight 1 and one Subscriber per group, a group receives a
// topic's messages in offset order, a nacked message being resent before the
// next one. Several Subscribers of one group (several instances) share the
// topic claim by claim, and with MaxInFlight above 1 messages of a claim are
// handled concurrently: then there is no order.
//
// Ordered lanes (LaneSubscriber): a group's messages are filed by a key into
// lanes once, in order; the lanes are claimed with a lease and an epoch by
// whichever Subscriber has a free worker, and a key's messages are handed
// out one at a time in offset order, different keys in parallel. A nack
// holds back only its key; an owner whose lease expired is fenced out.
//
// Publishers NOTIFY on commit; a Notifier wakes idle Subscribers on every
// instance at once. Polling stays as the safety net.
package pgtopic
