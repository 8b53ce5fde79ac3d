-- +goose Up
-- Endpoints as data (package sinks/subscriptions): each row is one receiver
-- of a `subscriptions` sink, subscribed to event-type patterns, optionally
-- owned by a tenant. Changed at runtime (`tributary endpoints add|update|
-- remove`, the admin API); every change is announced on the channel
-- tributary_subscriptions, and the sinks poll version as a safety net.
CREATE TABLE IF NOT EXISTS tributary_subscription_endpoints (
    id              TEXT        PRIMARY KEY,
    pipeline        TEXT        NOT NULL,
    sink            TEXT        NOT NULL,
    tenant          TEXT        NOT NULL DEFAULT '',
    description     TEXT        NOT NULL DEFAULT '',
    url             TEXT        NOT NULL,
    method          TEXT        NOT NULL DEFAULT 'POST',
    types           TEXT[]      NOT NULL,
    token           TEXT        NOT NULL DEFAULT '',
    token_header    TEXT        NOT NULL DEFAULT '',
    basic_username  TEXT        NOT NULL DEFAULT '',
    basic_password  TEXT        NOT NULL DEFAULT '',
    -- [{"secret": "whsec_…", "expires_at": "…" | null}], newest first.
    secrets         JSONB       NOT NULL DEFAULT '[]',
    headers         JSONB       NOT NULL DEFAULT '{}',
    rate_limit      DOUBLE PRECISION NOT NULL DEFAULT 0,
    enabled         BOOLEAN     NOT NULL DEFAULT true,
    disabled_reason TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by      TEXT        NOT NULL DEFAULT '',
    version         BIGINT      NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS tributary_subscription_endpoints_sink
    ON tributary_subscription_endpoints (pipeline, sink);

-- A monotonic counter per sink, bumped by every endpoint change (a delete
-- included), which the sinks poll to notice a missed notification.
CREATE TABLE IF NOT EXISTS tributary_subscription_versions (
    pipeline TEXT   NOT NULL,
    sink     TEXT   NOT NULL,
    version  BIGINT NOT NULL,
    PRIMARY KEY (pipeline, sink)
);

-- One row per event the sink fanned out; message_uuid makes the fan-out
-- idempotent (a topic message delivered again after a crash is not fanned
-- out twice).
CREATE TABLE IF NOT EXISTS tributary_subscription_events (
    id           BIGSERIAL   PRIMARY KEY,
    pipeline     TEXT        NOT NULL,
    sink         TEXT        NOT NULL,
    message_uuid TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    event_type   TEXT        NOT NULL DEFAULT '',
    tenant       TEXT        NOT NULL DEFAULT '',
    payload      BYTEA       NOT NULL,
    metadata     JSONB       NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (pipeline, sink, message_uuid)
);
CREATE INDEX IF NOT EXISTS tributary_subscription_events_time
    ON tributary_subscription_events (pipeline, sink, created_at);

-- Each endpoint's own queue: one row per (event, endpoint). pending rows are
-- claimed by next_at (a claim pushes next_at forward by a lease, so a killed
-- instance's claims come due again); delivered and poisoned rows stay until
-- the sink's retention purges them. No foreign keys: checking two per row
-- halved the fan-out's speed (1,000 rows per event); the one writer of
-- these tables (package sinks/subscriptions) deletes an endpoint's rows with
-- it and an event only once it has no delivery left.
CREATE TABLE IF NOT EXISTS tributary_subscription_deliveries (
    id          BIGSERIAL   PRIMARY KEY,
    event       BIGINT      NOT NULL,
    endpoint_id TEXT        NOT NULL,
    sink_key    TEXT        NOT NULL,
    state       TEXT        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'poisoned')),
    attempts    INT         NOT NULL DEFAULT 0,
    next_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_status INT         NOT NULL DEFAULT 0,
    last_error  TEXT        NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (event, endpoint_id)
);
CREATE INDEX IF NOT EXISTS tributary_subscription_deliveries_due
    ON tributary_subscription_deliveries (sink_key, next_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS tributary_subscription_deliveries_endpoint
    ON tributary_subscription_deliveries (endpoint_id, state, id);
CREATE INDEX IF NOT EXISTS tributary_subscription_deliveries_done
    ON tributary_subscription_deliveries (updated_at) WHERE state <> 'pending';

-- +goose Down
DROP TABLE IF EXISTS tributary_subscription_deliveries;
DROP TABLE IF EXISTS tributary_subscription_events;
DROP TABLE IF EXISTS tributary_subscription_versions;
DROP TABLE IF EXISTS tributary_subscription_endpoints;
