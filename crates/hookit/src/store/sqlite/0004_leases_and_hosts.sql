-- Each mapping keeps the host and port its URL connects to, so that a claim can skip
-- every delivery of a host the dispatcher cannot start another attempt to. Rows that
-- exist already are filled in by migrate.rs (the same parser as new writes) in this
-- migration's transaction.
ALTER TABLE mappings ADD COLUMN host TEXT NOT NULL DEFAULT '';
CREATE INDEX mappings_host ON mappings (host);

-- A lease is a fresh token per claim, not the claiming process: an outcome is applied
-- only while its own claim still holds. A lease taken before this migration keeps its
-- expiry and expires as before; no current process holds its old value.
ALTER TABLE deliveries RENAME COLUMN lease_owner TO lease_token;

-- Attempt numbers are now assigned at claim time from `attempts`, and every attempt
-- keeps its own record. Where an earlier version recorded an attempt whose lease was
-- lost, `attempts` may lag the highest recorded number; bring it level so that the
-- next number is never one already used.
UPDATE deliveries
SET attempts = (SELECT max(a.attempt) FROM attempts a WHERE a.delivery_id = deliveries.id)
WHERE attempts < (SELECT ifnull(max(a.attempt), 0) FROM attempts a
                  WHERE a.delivery_id = deliveries.id);
