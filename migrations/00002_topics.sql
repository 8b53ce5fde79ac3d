-- +goose Up
-- Topics (one row per message; all topics share the table). "offset" comes
-- from one sequence, and writers into a topic hold a transaction-level
-- advisory lock on the topic from before they draw an offset until they
-- commit, so offsets of one topic become visible in increasing order: a reader
-- that sees offset N may move past every offset below N. No reader waits on
-- the server-wide transaction horizon (pg_snapshot_xmin), so a transaction
-- left open elsewhere on the server holds back nothing.
CREATE TABLE IF NOT EXISTS tributary_messages (
    topic      TEXT        NOT NULL,
    "offset"   BIGINT      GENERATED ALWAYS AS IDENTITY,
    uuid       TEXT        NOT NULL,
    payload    BYTEA       NOT NULL,
    metadata   JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, "offset")
);

-- Consumer groups: the position below which every message of the topic is
-- claimed (being delivered, see tributary_claims) or done.
CREATE TABLE IF NOT EXISTS tributary_consumers (
    topic          TEXT   NOT NULL,
    consumer_group TEXT   NOT NULL,
    position       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, consumer_group)
);

-- Claims: offsets a consumer took past its group's position and has not
-- finished. A claim's owner extends expires_at while it lives; a claim whose
-- owner died (or handed it back on a clean stop) expires and is taken over.
CREATE TABLE IF NOT EXISTS tributary_claims (
    id             BIGSERIAL   PRIMARY KEY,
    topic          TEXT        NOT NULL,
    consumer_group TEXT        NOT NULL,
    offsets        BIGINT[]    NOT NULL,
    owner          TEXT        NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS tributary_claims_group_idx ON tributary_claims (topic, consumer_group, expires_at);
CREATE INDEX IF NOT EXISTS tributary_claims_owner_idx ON tributary_claims (owner);

-- Delayed queues (a sink's retries): a row is due at due_at and is claimed,
-- not locked, while it is delivered.
CREATE TABLE IF NOT EXISTS tributary_queue (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic         TEXT        NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    uuid          TEXT        NOT NULL,
    payload       BYTEA       NOT NULL,
    metadata      JSONB       NOT NULL,
    claimed_by    TEXT,
    claim_expires TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS tributary_queue_due_idx ON tributary_queue (topic, due_at);
CREATE INDEX IF NOT EXISTS tributary_queue_owner_idx ON tributary_queue (claimed_by) WHERE claimed_by IS NOT NULL;

-- +goose Down
DROP TABLE IF EXISTS tributary_queue;
DROP TABLE IF EXISTS tributary_claims;
DROP TABLE IF EXISTS tributary_consumers;
DROP TABLE IF EXISTS tributary_messages;
