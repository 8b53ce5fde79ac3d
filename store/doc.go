// Package store owns Tributary's tables (package migrations creates them):
// one struct per row and a typed function per query, for the messages and
// consumer groups of the Postgres topics, dedup keys, poison records,
// delivery attempts, resends, webhook endpoint state and leases. The
// router, the middleware, the sinks, the operator pages and the CLI read and
// write those tables only through it, so a column is renamed in one place
// and every statement can be found next to its table's others.
//
// Most users never import it. A test that wants to look at what a pipeline
// stored can:
//
//	msgs, next, err := store.SearchMessages(ctx, pool, store.MessageSearch{Topics: []string{router.Topic("doors")}})
//
// Every function takes a DB: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx, so
// that a caller decides what shares a transaction.
//
// Not here yet: the claim, completion and lane statements of the Postgres
// topic consumers and the ingest statement (router/pgtopic and
// router/backend_postgres.go), which are the hot path and tuned there; the
// subscriptions sink's own tables (sinks/subscriptions); the ingest
// quarantine and source checkpoints.
package store
