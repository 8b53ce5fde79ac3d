-- +goose Up
-- Endpoint state: whether a sink's endpoint is enabled, shared by every
-- instance and kept across restarts. The webhook sink registers its endpoint
-- (enabled) on its first delivery and disables it on 410 Gone; operators
-- change it with `tributary endpoints enable|disable` or the admin page.
-- endpoint is the URL as shown to operators: no user info, query values
-- replaced.
CREATE TABLE IF NOT EXISTS tributary_endpoints (
    pipeline   TEXT        NOT NULL,
    sink       TEXT        NOT NULL,
    endpoint   TEXT        NOT NULL,
    state      TEXT        NOT NULL CHECK (state IN ('enabled', 'disabled')),
    reason     TEXT        NOT NULL DEFAULT '',
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    changed_by TEXT        NOT NULL DEFAULT '',
    PRIMARY KEY (pipeline, sink)
);

-- +goose Down
DROP TABLE IF EXISTS tributary_endpoints;
