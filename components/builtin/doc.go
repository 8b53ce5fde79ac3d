// Package builtin registers the built-in source and sink types with the
// registry (package components): etagpoll, batchfeed, socketio, webhookin,
// generator and the brokers' sources; webhook, http, log, socketcommand,
// subscriptions and the brokers' sinks. The stock binary (package cli) and
// the pipeline-file loader (package config) import it; a program of its own
// imports it for the built-ins, beside its own types:
//
//	import _ "github.com/tributary-dev/tributary/components/builtin"
//
// The implementations live under sources/ and sinks/; each file here only
// decodes a type's options and builds it.
package builtin
