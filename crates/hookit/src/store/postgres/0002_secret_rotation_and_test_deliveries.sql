-- Webhook-secret rotation with a grace window, the partner's signature scheme, and
-- test deliveries: SQLite migrations 0006 and 0007, for databases already at 0001.

-- While a rotation's grace window is open, hookit keeps signing with the previous
-- secret (`webhook_secret_prev_enc`, encrypted like the current one and bound to the
-- same partner id) until `webhook_secret_switch_at`; from then on it signs with
-- `webhook_secret_enc`, the newest. Both are NULL when no window was ever opened, or
-- when the last rotation switched at once.
ALTER TABLE partners ADD COLUMN webhook_secret_prev_enc BYTEA;
ALTER TABLE partners ADD COLUMN webhook_secret_switch_at BIGINT;
-- `klikit`: only x-klikit-signature; `klikit+standard`: the Standard Webhooks headers
-- as well.
ALTER TABLE partners ADD COLUMN signature_scheme TEXT NOT NULL DEFAULT 'klikit';
-- A test delivery is one a partner or an operator asked for to check an endpoint
-- (`POST /v1/partner/webhooks/test`): it carries a sample order, is attempted once,
-- and is never listed, replayed or counted in the metrics.
ALTER TABLE deliveries ADD COLUMN test BOOLEAN NOT NULL DEFAULT FALSE;
