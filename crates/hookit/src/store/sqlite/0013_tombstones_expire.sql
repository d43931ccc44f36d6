-- Tombstones expire: one is kept for `HOOKIT_RETAIN_ORDERS` after its order was
-- pruned, then goes with the pruner's `tombstones` batches, found oldest first here.
CREATE INDEX order_tombstones_pruned ON order_tombstones (pruned_at);
