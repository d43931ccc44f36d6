-- hookit's embedded schema, version 1. Times are milliseconds since the Unix epoch.

CREATE TABLE partners (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    partner_key         TEXT NOT NULL UNIQUE,
    secret_hash         TEXT NOT NULL,
    -- AEAD ciphertext under the master key, which is never stored here.
    webhook_secret_enc  BLOB NOT NULL,
    enabled             INTEGER NOT NULL DEFAULT 1,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE mappings (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL REFERENCES partners(id),
    brand_id    INTEGER NOT NULL,
    branch_id   INTEGER,            -- NULL: every branch of the brand
    event_type  TEXT NOT NULL,
    url         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX mappings_tuple
    ON mappings (partner_id, brand_id, ifnull(branch_id, -1), event_type);
CREATE INDEX mappings_route ON mappings (brand_id, event_type);

-- The latest record of every order (getOrder).
CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    brand_id    INTEGER NOT NULL,
    branch_id   INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    placed_at   INTEGER,
    updated_at  INTEGER,
    version     INTEGER NOT NULL,
    record      BLOB NOT NULL
) STRICT;
CREATE INDEX orders_placed ON orders (placed_at);

-- Every accepted change, with the record as it was at that change.
CREATE TABLE order_changes (
    id          TEXT PRIMARY KEY,
    order_id    INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    brand_id    INTEGER NOT NULL,
    branch_id   INTEGER NOT NULL,
    record      BLOB NOT NULL,
    ingested_at INTEGER NOT NULL
) STRICT;

-- One row per (change, partner): the routing of a change, and its place in the
-- per-(partner, order) sequence. States: waiting (an earlier change of the same order
-- for the same partner is unfinished), ready (the head, not yet batched), batched (in
-- a pending delivery), finished (its delivery was acknowledged or died), stopped (its
-- mapping was deleted before it was batched).
CREATE TABLE queue (
    id            TEXT PRIMARY KEY,
    partner_id    TEXT NOT NULL,
    mapping_id    TEXT NOT NULL,
    order_id      INTEGER NOT NULL,
    order_version INTEGER NOT NULL,
    change_id     TEXT NOT NULL REFERENCES order_changes(id),
    state         TEXT NOT NULL,
    delivery_id   TEXT,
    queued_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX queue_ready ON queue (id) WHERE state = 'ready';
CREATE INDEX queue_sequence ON queue (partner_id, order_id, state, order_version);
CREATE INDEX queue_delivery ON queue (delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX queue_mapping_open ON queue (mapping_id) WHERE state IN ('waiting', 'ready');

-- A delivery is one webhook: its id is the event id, its body is formed once.
CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    partner_id        TEXT NOT NULL,
    mapping_id        TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    brand_id          INTEGER NOT NULL,
    branch_id         INTEGER NOT NULL,
    order_ids         TEXT NOT NULL,      -- JSON array of order ids, for operators
    body              BLOB NOT NULL,
    state             TEXT NOT NULL,      -- pending | delivered | dead
    dead_reason       TEXT,               -- retries_exhausted | mapping_deleted
    attempts          INTEGER NOT NULL DEFAULT 0,
    retry_index       INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_until       INTEGER,
    first_ingested_at INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER
) STRICT;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_partner ON deliveries (partner_id, state);
CREATE INDEX deliveries_mapping_pending ON deliveries (mapping_id) WHERE state = 'pending';

CREATE TABLE attempts (
    delivery_id      TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    url              TEXT NOT NULL,
    status_code      INTEGER,
    error_kind       TEXT,
    error            TEXT,
    response_excerpt TEXT,
    PRIMARY KEY (delivery_id, attempt)
) STRICT, WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    scope          TEXT NOT NULL,
    key            TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    response       BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;
