-- Named operator tokens (the bootstrap `root` token is configured, never stored) and
-- the audit log of operator actions.

CREATE TABLE operator_tokens (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
) STRICT;

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,     -- time-ordered: newest first is id order
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,        -- the operator token's name
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    details     TEXT NOT NULL         -- JSON object; never a secret
) STRICT;

ALTER TABLE idempotency_keys ADD COLUMN status INTEGER NOT NULL DEFAULT 202;

CREATE INDEX queue_open_by_partner ON queue (partner_id, queued_at) WHERE state IN ('waiting', 'ready');
CREATE INDEX orders_placed_brand ON orders (brand_id, branch_id, placed_at);
