// Package middleware holds the delivery middleware a pipeline runs: Dedup on
// the ingest path, and Poison ⟶ Requeue ⟶ Retry around every sink. Each is a
// Watermill message.HandlerMiddleware; package router fixes their order so the
// PoisonQueue-before-Retry mistake (watermill#645) cannot be made.
//
// Sinks class their errors with Permanent and RetryAfter; any other error is
// transient.
package middleware
