-- Retention (SQLite migration 0009): what the pruner needs to find old work without a scan, and the
-- tombstones pruned orders leave.

-- When the order last changed (ingest or a partner's status change): its retention
-- counts from here. Filled in from the changes already stored.
ALTER TABLE orders ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX order_changes_order ON order_changes (order_id);
UPDATE orders SET changed_at = coalesce(
    (SELECT max(c.ingested_at) FROM order_changes c WHERE c.order_id = orders.id),
    first_ingested_at);
CREATE INDEX orders_changed ON orders (changed_at);
-- Whether anything still refers to an order's changes. The partner and version after the
-- order id keep this index the best one for a (partner, order) sequence too: with the
-- order id alone, a planner without statistics yet (a young, fast-growing queue) chose a
-- bitmap AND of it with the partner index, which reads every open row of a partner per
-- sequence and held promotion for seconds.
CREATE INDEX queue_order ON queue (order_id, partner_id, order_version);
-- The oldest finished deliveries of each state, and the oldest idempotency keys.
CREATE INDEX deliveries_delivered ON deliveries (finished_at) WHERE state = 'delivered';
CREATE INDEX deliveries_dead ON deliveries (finished_at) WHERE state = 'dead';
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- What is kept of a pruned order, so that a later change of it continues its version
-- (the last one here + 1) and its staleness rule (the platform's last times) instead
-- of starting again at version 1. No personal data: no record.
CREATE TABLE order_tombstones (
    id                  BIGINT PRIMARY KEY,
    version             BIGINT NOT NULL,
    platform_updated_at BIGINT,
    platform_stored_at  BIGINT,
    pruned_at           BIGINT NOT NULL
);
