-- Endpoint health: one row per (partner, URL) that has ever failed. No row means
-- healthy. `probe_at` is when an open circuit lets its next probe through;
-- `probe_event_id`, set by an operator's retry-now, names the delivery that probe is.
CREATE TABLE endpoints (
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    url             TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'healthy'
                    CHECK (state IN ('healthy', 'open', 'disabled')),
    since           BIGINT,
    failures        BIGINT NOT NULL DEFAULT 0,
    failing_since   BIGINT,
    last_error      TEXT,
    cooldown_ms     BIGINT NOT NULL DEFAULT 0,
    probe_at        BIGINT,
    probe_event_id  TEXT,
    PRIMARY KEY (partner_id, url)
);
