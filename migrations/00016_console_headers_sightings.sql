-- +goose Up
-- The console's event page: the request headers each attempt sent (redacted
-- by the sink before it records them; NULL for rows written before this and
-- for sinks that send no HTTP request), and which sources handed an event on
-- again after it was stored (dedup hits).
ALTER TABLE tributary_delivery_attempts ADD COLUMN IF NOT EXISTS request_headers JSONB;

-- One row per (pipeline, event id, source) that sent an already stored event
-- again: written by the ingest statement only on a dedup hit, so ingesting
-- new events costs nothing more. The first sighting is the stored event
-- itself (its source is in its metadata). Pruned with the dedup keys once
-- expires_at (the dedup window from its last hit) passes.
CREATE TABLE IF NOT EXISTS tributary_dedup_hits (
    pipeline   TEXT        NOT NULL,
    key        TEXT        NOT NULL,
    source     TEXT        NOT NULL,
    hits       BIGINT      NOT NULL,
    first_hit  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_hit   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pipeline, key, source)
);
CREATE INDEX IF NOT EXISTS tributary_dedup_hits_expires_idx ON tributary_dedup_hits (expires_at);

-- +goose Down
DROP TABLE IF EXISTS tributary_dedup_hits;
ALTER TABLE tributary_delivery_attempts DROP COLUMN IF EXISTS request_headers;
