package middleware

import (
	"context"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// Executor runs SQL: a pool, or the transaction a message is being ingested or
// consumed in.
type Executor = wsql.ContextExecutor

type txKey struct{}

// ContextWithTx returns ctx carrying tx, so middleware writes (dedup keys,
// poison records, requeues) commit or roll back together with the message.
func ContextWithTx(ctx context.Context, tx Executor) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFromContext returns the transaction of ctx: one set by ContextWithTx, else
// the one watermill-sql's subscriber consumes the message in.
func TxFromContext(ctx context.Context) (Executor, bool) {
	if tx, ok := ctx.Value(txKey{}).(Executor); ok {
		return tx, true
	}
	if tx, ok := wsql.TxFromContext(ctx); ok {
		return tx, true
	}
	return nil, false
}
