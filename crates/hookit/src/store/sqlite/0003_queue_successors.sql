-- A flag on a queued change that a later change of the same (partner, order) waits
-- behind it, so finishing a delivery only looks for successors where there are some.
ALTER TABLE queue ADD COLUMN has_successor INTEGER NOT NULL DEFAULT 0;

-- The per-(partner, order) sequence index without the state: state changes on every
-- step of a change's life, and keeping it out of the key spares an index rewrite each
-- time. The few rows of one sequence are filtered by state after the lookup.
DROP INDEX queue_sequence;
CREATE INDEX queue_sequence ON queue (partner_id, order_id, order_version);
