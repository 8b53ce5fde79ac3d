-- +goose Up
-- Events whose content no index can hold: the event-id index becomes a hash
-- index (it holds a 4-byte hash, so an id of any length fits; the console
-- looks ids up by equality only), and the type index leaves out types over
-- 1 KB (a search for such a type reads the topic instead: the console adds
-- the same length condition to use the index). Dedup keys of long ids are
-- digests (tributary.DedupKey).
DROP INDEX IF EXISTS tributary_messages_event_id_idx;
CREATE INDEX IF NOT EXISTS tributary_messages_event_id_idx ON tributary_messages USING hash ((metadata->>'tributary_event_id'));
DROP INDEX IF EXISTS tributary_messages_type_idx;
CREATE INDEX IF NOT EXISTS tributary_messages_type_idx ON tributary_messages (topic, (metadata->>'tributary_event_type'), "offset")
    WHERE octet_length(metadata->>'tributary_event_type') <= 1024;
-- The planner takes no statistics from a partial index's expressions: these
-- give it the type's and the length's, as the old index did (PostgreSQL 14+).
CREATE STATISTICS IF NOT EXISTS tributary_messages_type_stats
    ON (metadata->>'tributary_event_type'), (octet_length(metadata->>'tributary_event_type')) FROM tributary_messages;

-- The ingest quarantine: events a source handed on that the backend
-- refuses for good (a NUL in the id, type or metadata; a value over a
-- database limit), set aside so the source moves on. Everything taken from
-- the event is kept as bytes, exactly as the source handed it on; event_id
-- is only its printable form for listings. dedup_key and dedup_ttl are what
-- the ingest used, so a replay dedups the same way.
CREATE TABLE IF NOT EXISTS tributary_ingest_quarantine (
    id             BIGSERIAL        PRIMARY KEY,
    pipeline       TEXT             NOT NULL,
    source         TEXT             NOT NULL,
    event_id       TEXT             NOT NULL,
    message_uuid   BYTEA            NOT NULL,
    metadata       BYTEA            NOT NULL,
    payload        BYTEA            NOT NULL,
    dedup_key      TEXT             NOT NULL DEFAULT '',
    dedup_ttl      DOUBLE PRECISION NOT NULL DEFAULT 0,
    reason         TEXT             NOT NULL,
    sqlstate       TEXT             NOT NULL DEFAULT '',
    quarantined_at TIMESTAMPTZ      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tributary_ingest_quarantine_pipeline_idx ON tributary_ingest_quarantine (pipeline, source, id);

-- +goose Down
DROP TABLE IF EXISTS tributary_ingest_quarantine;
DROP STATISTICS IF EXISTS tributary_messages_type_stats;
DROP INDEX IF EXISTS tributary_messages_type_idx;
CREATE INDEX IF NOT EXISTS tributary_messages_type_idx ON tributary_messages (topic, (metadata->>'tributary_event_type'), "offset");
DROP INDEX IF EXISTS tributary_messages_event_id_idx;
CREATE INDEX IF NOT EXISTS tributary_messages_event_id_idx ON tributary_messages ((metadata->>'tributary_event_id'));
