-- hookit's PostgreSQL schema, version 1: the SQLite schema as its migrations 1 to 6
-- leave it, in one step. Times are milliseconds since the Unix epoch (BIGINT, as in
-- SQLite); bodies and records are exact bytes (BYTEA), never re-encoded.

CREATE TABLE partners (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    name                TEXT COLLATE "C" NOT NULL,
    partner_key         TEXT NOT NULL UNIQUE,
    secret_hash         TEXT NOT NULL,
    -- AEAD ciphertext under the master key, which is never stored here.
    webhook_secret_enc  BYTEA NOT NULL,
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE mappings (
    id          TEXT COLLATE "C" PRIMARY KEY,
    partner_id  TEXT COLLATE "C" NOT NULL REFERENCES partners(id),
    brand_id    BIGINT NOT NULL,
    branch_id   BIGINT,             -- NULL: every branch of the brand
    event_type  TEXT COLLATE "C" NOT NULL,
    url         TEXT NOT NULL,
    host        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- The tuple is unique; concurrent upserts of one tuple meet on this index.
CREATE UNIQUE INDEX mappings_tuple
    ON mappings (partner_id, brand_id, coalesce(branch_id, -1), event_type);
CREATE INDEX mappings_route ON mappings (brand_id, event_type);
CREATE INDEX mappings_host ON mappings (host);

-- The latest record of every order (getOrder).
CREATE TABLE orders (
    id                  BIGINT PRIMARY KEY,
    brand_id            BIGINT NOT NULL,
    branch_id           BIGINT NOT NULL,
    status              BIGINT NOT NULL,
    placed_at           BIGINT,
    platform_updated_at BIGINT,
    platform_stored_at  BIGINT,
    first_ingested_at   BIGINT NOT NULL,
    version             BIGINT NOT NULL,
    record              BYTEA NOT NULL
);
CREATE INDEX orders_listed ON orders ((coalesce(placed_at, first_ingested_at)));
CREATE INDEX orders_listed_brand
    ON orders (brand_id, branch_id, (coalesce(placed_at, first_ingested_at)));

-- Every accepted change, with the record as it was at that change.
CREATE TABLE order_changes (
    id          TEXT COLLATE "C" PRIMARY KEY,
    order_id    BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    event_type  TEXT COLLATE "C" NOT NULL,
    brand_id    BIGINT NOT NULL,
    branch_id   BIGINT NOT NULL,
    record      BYTEA NOT NULL,
    ingested_at BIGINT NOT NULL
);

-- One row per (change, partner); see the SQLite schema for the states.
CREATE TABLE queue (
    id            TEXT COLLATE "C" PRIMARY KEY,
    partner_id    TEXT COLLATE "C" NOT NULL,
    mapping_id    TEXT COLLATE "C" NOT NULL,
    order_id      BIGINT NOT NULL,
    order_version BIGINT NOT NULL,
    change_id     TEXT NOT NULL REFERENCES order_changes(id),
    state         TEXT NOT NULL,
    delivery_id   TEXT,
    queued_at     BIGINT NOT NULL,
    has_successor BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX queue_ready ON queue (id) WHERE state = 'ready';
CREATE INDEX queue_sequence ON queue (partner_id, order_id, order_version);
CREATE INDEX queue_delivery ON queue (delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX queue_mapping_open ON queue (mapping_id) WHERE state IN ('waiting', 'ready');
CREATE INDEX queue_open_by_partner ON queue (partner_id, queued_at)
    WHERE state IN ('waiting', 'ready');
-- The invariant per-order ordering rests on, enforced: at most one head per
-- (partner, order).
CREATE UNIQUE INDEX queue_one_head ON queue (partner_id, order_id)
    WHERE state IN ('ready', 'batched');

-- A delivery is one webhook: its id is the event id, its body is formed once.
CREATE TABLE deliveries (
    id                TEXT COLLATE "C" PRIMARY KEY,
    partner_id        TEXT COLLATE "C" NOT NULL,
    mapping_id        TEXT COLLATE "C" NOT NULL,
    event_type        TEXT COLLATE "C" NOT NULL,
    brand_id          BIGINT NOT NULL,
    branch_id         BIGINT NOT NULL,
    order_ids         TEXT NOT NULL,      -- JSON array of order ids, for operators
    order_count       BIGINT NOT NULL,
    body              BYTEA NOT NULL,
    state             TEXT NOT NULL,      -- pending | delivered | dead
    dead_reason       TEXT,               -- retries_exhausted | mapping_deleted
    attempts          BIGINT NOT NULL DEFAULT 0,
    retry_index       BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    lease_token       TEXT,
    lease_until       BIGINT,
    first_ingested_at BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_partner ON deliveries (partner_id, state);
CREATE INDEX deliveries_mapping_pending ON deliveries (mapping_id) WHERE state = 'pending';

CREATE TABLE attempts (
    delivery_id      TEXT COLLATE "C" NOT NULL,
    attempt          BIGINT NOT NULL,
    started_at       BIGINT NOT NULL,
    duration_ms      BIGINT NOT NULL,
    url              TEXT NOT NULL,
    status_code      INTEGER,
    error_kind       TEXT,
    error            TEXT,
    response_excerpt TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE idempotency_keys (
    scope          TEXT COLLATE "C" NOT NULL,
    key            TEXT COLLATE "C" NOT NULL,
    request_digest TEXT NOT NULL,
    status         INTEGER NOT NULL,
    response       BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Named operator tokens (the bootstrap `root` token is configured, never stored) and
-- the audit log of operator actions.
CREATE TABLE operator_tokens (
    name        TEXT COLLATE "C" PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE audit_log (
    id          TEXT COLLATE "C" PRIMARY KEY,     -- time-ordered: newest first is id order
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    details     TEXT NOT NULL         -- JSON object; never a secret
);

-- Values the whole installation shares, such as the master-key check.
CREATE TABLE settings (
    name   TEXT COLLATE "C" PRIMARY KEY,
    value  TEXT NOT NULL
);
