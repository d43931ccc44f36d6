-- Webhook-secret rotation with a grace window, and the partner's signature scheme.

-- While a rotation's grace window is open, hookit keeps signing with the previous
-- secret (`webhook_secret_prev_enc`, encrypted like the current one and bound to the
-- same partner id) until `webhook_secret_switch_at`; from then on it signs with
-- `webhook_secret_enc`, the newest. Both are NULL when no window was ever opened, or
-- when the last rotation switched at once.
ALTER TABLE partners ADD COLUMN webhook_secret_prev_enc BLOB;
ALTER TABLE partners ADD COLUMN webhook_secret_switch_at INTEGER;
-- `klikit`: only x-klikit-signature; `klikit+standard`: the Standard Webhooks headers
-- as well.
ALTER TABLE partners ADD COLUMN signature_scheme TEXT NOT NULL DEFAULT 'klikit';
