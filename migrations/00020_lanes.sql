-- +goose Up
-- Ordered lanes (a sink with an order key, see router/pgtopic/lanes.go). A
-- sink's consumer group reads its topic once, in order, and files each event
-- under its order key in one of the sink's lanes (lane = hash(key) mod
-- lanes). An event of a key is delivered only once every earlier event of
-- that key is done, so order holds per key, whatever lane holds it.
CREATE TABLE IF NOT EXISTS tributary_lane_events (
    topic          TEXT        NOT NULL,
    consumer_group TEXT        NOT NULL,
    "offset"       BIGINT      NOT NULL,
    lane           INTEGER     NOT NULL,
    -- NULL: the event has no key and waits for nothing.
    key            TEXT,
    -- a failed delivery held back: not before retry_at; attempts counts
    -- the failures, state is the message's metadata after the last one.
    retry_at       TIMESTAMPTZ,
    attempts       INTEGER     NOT NULL DEFAULT 0,
    state          JSONB,
    PRIMARY KEY (topic, consumer_group, lane, "offset")
);
CREATE INDEX IF NOT EXISTS tributary_lane_events_key_idx ON tributary_lane_events (topic, consumer_group, key, "offset");

-- Lanes: one row per lane of a sink. An instance works a lane while it holds
-- it (owner, expires_at); every claim increments epoch, and an owner
-- completes an event only while its epoch is the lane's and its lease has
-- not expired, so an owner that stalled past its lease is fenced out.
CREATE TABLE IF NOT EXISTS tributary_lanes (
    topic          TEXT        NOT NULL,
    consumer_group TEXT        NOT NULL,
    lane           INTEGER     NOT NULL,
    owner          TEXT        NOT NULL DEFAULT '',
    epoch          BIGINT      NOT NULL DEFAULT 0,
    claimed_at     TIMESTAMPTZ,
    expires_at     TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (topic, consumer_group, lane)
);

-- +goose Down
DROP TABLE IF EXISTS tributary_lanes;
DROP TABLE IF EXISTS tributary_lane_events;
