// Package store owns Tributary's tables (package migrations creates them):
// one struct per row and a typed function per query, for the messages and
// consumer groups of the Postgres topics, dedup keys, poison records, the
// ingest quarantine, delivery attempts, resends, webhook endpoint state,
// leases and instances. The router, the middleware, the sinks, the
// operator pages and the CLI read and write those tables only through it
// (internal/archtest checks), so a column changes in one place and every
// statement on a table sits beside the others.
//
// Most users never import it. A test that wants to see what a pipeline
// stored, and whether a sink is done with it, can:
//
//	ids, err := store.MessageEventIDs(ctx, pool, router.Topic("doors"))
//	done, err := store.ConsumerDone(ctx, pool, router.Topic("doors"), "crm")
//
// Every function takes a DB: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx, so
// that a caller decides what shares a transaction.
//
// Not here yet: the claim, completion, lane and prune statements of the
// Postgres topic consumers and the ingest statement (router/pgtopic and
// router/backend_postgres.go), which are the hot path and tuned there; the
// subscriptions sink's own tables (sinks/subscriptions) and the source
// checkpoints (sources/checkpoint), each owned by its one package.
package store
