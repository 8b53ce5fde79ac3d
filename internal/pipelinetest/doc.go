// Package pipelinetest holds the helpers that tests of the router, sources
// and sinks share: a source that redelivers a fixed list until acked, a sink
// that records what it is given, running a router for the length of a test,
// polling a condition, and reading a pipeline's Postgres topic.
//
// It is imported by tests only.
package pipelinetest
