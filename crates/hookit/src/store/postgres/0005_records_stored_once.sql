-- Each order record is stored once: in the change that brought it (SQLite migration
-- 0011 says the same for that backend).
--
-- * An order's latest record is its latest change's record (the change with the
--   order's version), so the order row no longer carries a copy.
-- * A delivery's body is formed from its changes' records, in queue order, whenever it
--   is sent or shown: the same bytes every time, since changes never change. A
--   delivery formed from now on stores an empty body; one formed before this version
--   keeps the body it has (and is sent as it was).
-- * Changes and queue rows, which nothing outside the store names, lose their text ids:
--   a change is named by (order, version), a queue row by a number that keeps the old
--   ids' order (batches list their changes by it).
-- * Records (and remembered answers) written from now on are LZ4-compressed by hookit
--   (`store/packed.rs`); those written before stay as they are and read as before.
--
-- The queue is renumbered in one statement (about a second per 100,000 rows); dropped
-- columns free their space as rows are rewritten (or at once by VACUUM FULL).

ALTER TABLE orders DROP COLUMN record;
ALTER TABLE queue DROP COLUMN change_id;
ALTER TABLE order_changes DROP COLUMN id;
DROP INDEX order_changes_order;
CREATE UNIQUE INDEX order_changes_version ON order_changes (order_id, version);

ALTER TABLE queue ADD COLUMN seq BIGINT;
UPDATE queue q SET seq = numbered.n
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM queue) AS numbered
WHERE numbered.id = q.id;
ALTER TABLE queue DROP COLUMN id;
ALTER TABLE queue RENAME COLUMN seq TO id;
CREATE SEQUENCE queue_id_seq OWNED BY queue.id;
SELECT setval('queue_id_seq', coalesce(max(id), 0) + 1, false) FROM queue;
ALTER TABLE queue ALTER COLUMN id SET DEFAULT nextval('queue_id_seq'),
                  ALTER COLUMN id SET NOT NULL,
                  ADD PRIMARY KEY (id);
CREATE INDEX queue_ready ON queue (id) WHERE state = 'ready';
-- `queue_order` (order, partner, version) serves every (partner, order) lookup.
DROP INDEX queue_sequence;
