-- Held deliveries: a pending delivery whose endpoint is disabled is marked `held`
-- (by the claim that first meets it, `endpoints::hold_waiting`) and leaves the due
-- index, so claims never read it; enabling the endpoint or changing the mapping's URL
-- clears the mark. A held delivery has no lease, so no outcome can move it. What
-- already waits on a disabled endpoint is marked by the first claims after the upgrade.
ALTER TABLE deliveries ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending' AND held = 0;
-- A mapping's pending deliveries, held or not, each found without reading the other.
DROP INDEX deliveries_mapping_pending;
CREATE INDEX deliveries_mapping_pending ON deliveries (mapping_id, held) WHERE state = 'pending';
-- The disabled endpoints, without reading every endpoint that ever failed.
CREATE INDEX endpoints_disabled ON endpoints (partner_id, url) WHERE state = 'disabled';
