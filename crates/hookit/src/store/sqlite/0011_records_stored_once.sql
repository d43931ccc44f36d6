-- Each order record is stored once: in the change that brought it.
--
-- * An order's latest record is its latest change's record (the change with the
--   order's version), so the order row no longer carries a copy.
-- * A delivery's body is formed from its changes' records, in queue order, whenever it
--   is sent or shown: the same bytes every time, since changes never change. A
--   delivery formed from now on stores an empty body; one formed before this version
--   keeps the body it has (and is sent as it was).
-- * Records (and remembered answers) written from now on are LZ4-compressed by hookit
--   (`store/packed.rs`); those written before stay as they are and read as before.
-- * Changes and queue rows, which nothing outside the store names, are keyed by
--   integers, and a queue row finds its change by (order, version) instead of a copy
--   of the change's text id.
--
-- The queue and the changes are copied into their new tables once (about a second
-- per 100,000 rows; the database needs room for one more copy of both while it runs).

ALTER TABLE orders DROP COLUMN record;

CREATE TABLE order_changes_v11 (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    brand_id    INTEGER NOT NULL,
    branch_id   INTEGER NOT NULL,
    record      BLOB NOT NULL,
    ingested_at INTEGER NOT NULL
) STRICT;
INSERT INTO order_changes_v11 (order_id, version, event_type, brand_id, branch_id, record,
                               ingested_at)
SELECT order_id, version, event_type, brand_id, branch_id, record, ingested_at
FROM order_changes ORDER BY id;

-- Queue ids keep their order (batches list their changes by it).
CREATE TABLE queue_v11 (
    id            INTEGER PRIMARY KEY,
    partner_id    TEXT NOT NULL,
    mapping_id    TEXT NOT NULL,
    order_id      INTEGER NOT NULL,
    order_version INTEGER NOT NULL,
    state         TEXT NOT NULL,
    delivery_id   TEXT,
    queued_at     INTEGER NOT NULL,
    has_successor INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO queue_v11 (id, partner_id, mapping_id, order_id, order_version, state, delivery_id,
                       queued_at, has_successor)
SELECT row_number() OVER (ORDER BY id), partner_id, mapping_id, order_id, order_version, state,
       delivery_id, queued_at, has_successor
FROM queue;

DROP TABLE queue;
DROP TABLE order_changes;
ALTER TABLE order_changes_v11 RENAME TO order_changes;
ALTER TABLE queue_v11 RENAME TO queue;

CREATE UNIQUE INDEX order_changes_version ON order_changes (order_id, version);
CREATE INDEX queue_ready ON queue (id) WHERE state = 'ready';
CREATE INDEX queue_delivery ON queue (delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX queue_mapping_open ON queue (mapping_id) WHERE state IN ('waiting', 'ready');
CREATE INDEX queue_open_by_partner ON queue (partner_id, queued_at)
    WHERE state IN ('waiting', 'ready');
-- One index serves both a (partner, order) sequence and "does anything still refer to
-- this order" (retention).
CREATE INDEX queue_order ON queue (order_id, partner_id, order_version);
