// Package middleware holds the delivery middleware a pipeline runs around
// every sink, Poison ⟶ Requeue ⟶ Retry, and the dedup and poison stores.
// Each middleware is a Watermill message.HandlerMiddleware; package router
// fixes their order so the PoisonQueue-before-Retry mistake (watermill#645)
// cannot be made.
//
// Sinks class their errors with Permanent and RetryAfter; any other error is
// transient.
package middleware
