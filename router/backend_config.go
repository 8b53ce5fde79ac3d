package router

import (
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
)

// Backend types, as BackendConfig.Type and a pipeline file's `backend.type`
// name them.
const (
	BackendPostgres  = "postgres"
	BackendJetStream = "jetstream"
)

// BackendConfig chooses a backend by name: a pipeline file's `backend:`
// block decodes into it. Postgres (the default) keeps topics in the
// database of the pool; JetStream keeps them in NATS JetStream, with dedup
// keys, poison records and the delivery log still in the database.
type BackendConfig struct {
	// Type is BackendPostgres or BackendJetStream; BackendPostgres when empty.
	Type string `yaml:"type"`
	// JetStreamConfig is the JetStream backend's, for type jetstream (its
	// Pool is New's).
	JetStreamConfig `yaml:",inline"`
}

// Validate reports every problem with c, each a *tributary.OptionError
// named by its key in a pipeline file's `backend:` block.
func (c BackendConfig) Validate() error {
	switch c.Type {
	case "", BackendPostgres:
		var errs []error
		if c.URL != "" {
			errs = append(errs, tributary.Option("url", "the postgres backend uses DATABASE_URL (--database-url); url is for type jetstream"))
		}
		if c.Replicas != 0 || c.AckWait != 0 {
			errs = append(errs, tributary.Option("", "replicas and ack_wait are for type jetstream"))
		}
		return errors.Join(errs...)
	case BackendJetStream:
		return errors.Join(c.validateOptions()...)
	}
	return tributary.Option("type", "unknown backend %q; want %s or %s", c.Type, BackendPostgres, BackendJetStream)
}

// New returns the backend c names, on pool.
func (c BackendConfig) New(pool *pgxpool.Pool) Backend {
	if c.Type == BackendJetStream {
		js := c.JetStreamConfig
		js.Pool = pool
		return JetStream(js)
	}
	return Postgres(pool)
}
