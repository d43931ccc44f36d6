-- A test delivery is one a partner or an operator asked for to check an endpoint
-- (`POST /v1/partner/webhooks/test`): it carries a sample order, is attempted once,
-- and is never listed, replayed or counted in the metrics.
ALTER TABLE deliveries ADD COLUMN test INTEGER NOT NULL DEFAULT 0;
