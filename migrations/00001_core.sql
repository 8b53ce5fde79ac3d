-- +goose Up
-- Dedup keys: one row per (pipeline, event id) recorded in the same transaction
-- as the publish into the pipeline's topic, so a key never exists for an event
-- that is not stored.
CREATE TABLE IF NOT EXISTS tributary_dedup (
    pipeline   TEXT        NOT NULL,
    key        TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pipeline, key)
);
CREATE INDEX IF NOT EXISTS tributary_dedup_expires_idx ON tributary_dedup (expires_at);

-- Source checkpoints: a cursor (ETag, createdAt, batch id …) per source.
CREATE TABLE IF NOT EXISTS tributary_checkpoints (
    source     TEXT        PRIMARY KEY,
    value      JSONB       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Poison queue: messages whose retry schedule is exhausted or whose error is
-- permanent, with the sink they failed on so a replay returns to that sink only.
CREATE TABLE IF NOT EXISTS tributary_poison (
    id            BIGSERIAL   PRIMARY KEY,
    pipeline      TEXT        NOT NULL,
    sink          TEXT        NOT NULL,
    message_uuid  TEXT        NOT NULL,
    event_id      TEXT        NOT NULL,
    payload       BYTEA       NOT NULL,
    metadata      JSONB       NOT NULL,
    reason        TEXT        NOT NULL,
    attempts      INTEGER     NOT NULL,
    first_failure TIMESTAMPTZ NOT NULL,
    last_failure  TIMESTAMPTZ NOT NULL,
    poisoned_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tributary_poison_pipeline_idx ON tributary_poison (pipeline, sink, id);

-- Delivery attempts: every outbound attempt a sink makes, for operators.
CREATE TABLE IF NOT EXISTS tributary_delivery_attempts (
    id            BIGSERIAL        PRIMARY KEY,
    pipeline      TEXT             NOT NULL,
    sink          TEXT             NOT NULL,
    endpoint      TEXT             NOT NULL,
    event_id      TEXT             NOT NULL,
    message_uuid  TEXT             NOT NULL,
    attempt       INTEGER          NOT NULL,
    attempted_at  TIMESTAMPTZ      NOT NULL DEFAULT now(),
    latency_ms    DOUBLE PRECISION NOT NULL,
    status_code   INTEGER          NOT NULL DEFAULT 0,
    outcome       TEXT             NOT NULL,
    error         TEXT             NOT NULL DEFAULT '',
    response_body TEXT             NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tributary_delivery_attempts_time_idx ON tributary_delivery_attempts (attempted_at);
CREATE INDEX IF NOT EXISTS tributary_delivery_attempts_sink_idx ON tributary_delivery_attempts (pipeline, sink, id);

-- +goose Down
DROP TABLE IF EXISTS tributary_delivery_attempts;
DROP TABLE IF EXISTS tributary_poison;
DROP TABLE IF EXISTS tributary_checkpoints;
DROP TABLE IF EXISTS tributary_dedup;
