-- +goose Up
-- Instances: every `tributary run` (or embedding router with leadership)
-- registers here and heartbeats; an instance is live while expires_at is in
-- the future. Sources are spread over the live instances.
CREATE TABLE IF NOT EXISTS tributary_instances (
    id           TEXT        PRIMARY KEY,
    host         TEXT        NOT NULL,
    pid          INTEGER     NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    -- leases it competes for: the share is counted among the instances
    -- competing for the same sources (one database may serve several
    -- pipeline files).
    leases       TEXT[]      NOT NULL DEFAULT '{}'
);

-- Leases: one row per source (name "pipeline/source"); the owner runs the
-- source while expires_at is in the future and renews it every third of its
-- TTL. Another instance takes a lease only once it expired (or was deleted
-- by a resigning owner). fence counts the hand-overs.
CREATE TABLE IF NOT EXISTS tributary_leases (
    name        TEXT        PRIMARY KEY,
    owner       TEXT        NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    renewed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    fence       BIGINT      NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS tributary_leases_owner_idx ON tributary_leases (owner);

-- +goose Down
DROP TABLE IF EXISTS tributary_leases;
DROP TABLE IF EXISTS tributary_instances;
