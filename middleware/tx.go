package middleware

import (
	"context"

	"github.com/tributary-dev/tributary/store"
)

// Executor runs SQL: a *pgxpool.Pool, or a pgx.Tx a message is being
// ingested or consumed in.
type Executor = store.DB

type txKey struct{}

// ContextWithTx returns ctx carrying tx, so middleware writes (dedup keys,
// poison records, requeues) commit or roll back together with the message.
func ContextWithTx(ctx context.Context, tx Executor) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFromContext returns the transaction set by ContextWithTx.
//
// It deliberately ignores the transaction watermill-sql's subscriber consumes
// a message in (wsql.TxFromContext): that subscriber commits it from its own
// goroutine when it stops waiting for an ack (shutdown, ack deadline), which
// races with a handler still writing to it on the same connection. Requeues
// and poison records are therefore written in transactions of their own,
// before the ack: a crash in between means a redelivery, never a loss.
func TxFromContext(ctx context.Context) (Executor, bool) {
	tx, ok := ctx.Value(txKey{}).(Executor)
	return tx, ok
}

// executor is the transaction ctx carries, else db.
func executor(ctx context.Context, db Executor) Executor {
	if tx, ok := TxFromContext(ctx); ok {
		return tx
	}
	return db
}
