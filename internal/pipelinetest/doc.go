// Package pipelinetest holds the helpers that tests of the router, sources
// and sinks share. It is imported by tests only.
package pipelinetest
