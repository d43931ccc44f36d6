-- Freshness is decided by the platform's own clock only, an order without `placed_at`
-- is listed by when hookit first stored it, and queues carried over from version 2
-- move again.

-- `orders.updated_at` held whatever the record last carried, a partner's `occurred_at`
-- included. From now on the column holds only the `updated_at` klikit's platform sent
-- (kept when a later push carries none), and `platform_stored_at` when hookit stored
-- the platform's latest accepted push: the stand-in when the platform sent no time.
-- A partner's time can no longer be told apart from the platform's in old rows; one
-- more than a day ahead of this upgrade cannot be the platform's and is dropped.
ALTER TABLE orders RENAME COLUMN updated_at TO platform_updated_at;
UPDATE orders SET platform_updated_at = NULL
WHERE platform_updated_at > CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 86400000;
ALTER TABLE orders ADD COLUMN platform_stored_at INTEGER;
-- The first time hookit stored the order: the list's time for an order without
-- `placed_at`.
ALTER TABLE orders ADD COLUMN first_ingested_at INTEGER NOT NULL DEFAULT 0;
UPDATE orders SET
    platform_stored_at = (SELECT max(c.ingested_at) FROM order_changes c WHERE c.order_id = orders.id),
    first_ingested_at = coalesce(
        (SELECT min(c.ingested_at) FROM order_changes c WHERE c.order_id = orders.id), 0);

DROP INDEX orders_placed;
DROP INDEX orders_placed_brand;
CREATE INDEX orders_listed ON orders (coalesce(placed_at, first_ingested_at));
CREATE INDEX orders_listed_brand
    ON orders (brand_id, branch_id, coalesce(placed_at, first_ingested_at));

-- Version 3 added `queue.has_successor` with 0 for every row already queued, so a
-- change waiting behind one of them was never promoted when it finished. Flag every
-- unfinished change that has a later one waiting behind it...
UPDATE queue SET has_successor = 1
WHERE state IN ('waiting', 'ready', 'batched')
  AND EXISTS (SELECT 1 FROM queue later
              WHERE later.partner_id = queue.partner_id AND later.order_id = queue.order_id
                AND later.state = 'waiting' AND later.order_version > queue.order_version);
-- ...and promote the first waiting change of every sequence whose head already
-- finished without promoting it.
UPDATE queue SET state = 'ready'
WHERE state = 'waiting'
  AND id = (SELECT w.id FROM queue w
            WHERE w.partner_id = queue.partner_id AND w.order_id = queue.order_id
              AND w.state = 'waiting'
            ORDER BY w.order_version, w.id LIMIT 1)
  AND NOT EXISTS (SELECT 1 FROM queue head
                  WHERE head.partner_id = queue.partner_id AND head.order_id = queue.order_id
                    AND head.state IN ('ready', 'batched'));
