-- +goose Up
-- The operator console (admin page): indexes for its searches, so each is an
-- index range read with a LIMIT however large the topic and the delivery log
-- grow, and the record of resends.

-- Event search over one pipeline's topic: by event id, source or type,
-- newest first (keyset paging on "offset"), and by time range. Each costs
-- the topic's writers one more index entry per event; they are what keeps a
-- search an index range read with a LIMIT however large the topic grows.
CREATE INDEX IF NOT EXISTS tributary_messages_event_id_idx ON tributary_messages ((metadata->>'tributary_event_id'));
CREATE INDEX IF NOT EXISTS tributary_messages_source_idx ON tributary_messages (topic, (metadata->>'tributary_source'), "offset");
CREATE INDEX IF NOT EXISTS tributary_messages_type_idx ON tributary_messages (topic, (metadata->>'tributary_event_type'), "offset");
CREATE INDEX IF NOT EXISTS tributary_messages_created_idx ON tributary_messages (topic, created_at);

-- An event's attempts (by the message's uuid, which every retry and resend
-- keeps), and a sink's last hour (endpoint stats, live charts, bulk resend).
CREATE INDEX IF NOT EXISTS tributary_delivery_attempts_message_idx ON tributary_delivery_attempts (message_uuid, id);
CREATE INDEX IF NOT EXISTS tributary_delivery_attempts_sink_time_idx ON tributary_delivery_attempts (pipeline, sink, attempted_at);

-- Resends from the console: which message went again to which sink, who
-- asked and when. bulk_id groups the rows of one "resend everything that
-- failed since T".
CREATE TABLE IF NOT EXISTS tributary_resends (
    id           BIGSERIAL   PRIMARY KEY,
    pipeline     TEXT        NOT NULL,
    sink         TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    message_uuid TEXT        NOT NULL,
    topic_offset BIGINT      NOT NULL,
    bulk_id      TEXT        NOT NULL DEFAULT '',
    requested_by TEXT        NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tributary_resends_message_idx ON tributary_resends (message_uuid, id);
CREATE INDEX IF NOT EXISTS tributary_resends_time_idx ON tributary_resends (requested_at);

-- +goose Down
DROP TABLE IF EXISTS tributary_resends;
DROP INDEX IF EXISTS tributary_delivery_attempts_sink_time_idx;
DROP INDEX IF EXISTS tributary_delivery_attempts_message_idx;
DROP INDEX IF EXISTS tributary_messages_created_idx;
DROP INDEX IF EXISTS tributary_messages_type_idx;
DROP INDEX IF EXISTS tributary_messages_source_idx;
DROP INDEX IF EXISTS tributary_messages_event_id_idx;
