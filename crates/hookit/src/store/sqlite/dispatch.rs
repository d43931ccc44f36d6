//! The dispatcher's side of the store: batching ready changes into deliveries,
//! leasing due deliveries, recording outcomes, and keeping each (partner, order)
//! sequence moving.
//!
//! Per-order ordering rests on one invariant of the `queue` table: for any (partner,
//! order) at most one row is `ready` or `batched` — the head. Later changes wait in
//! `waiting` until the head's delivery is acknowledged or dies, and only then is the
//! next one promoted (`advance_sequence`). Batching only ever reads `ready` rows, so a
//! later change can never be sent before an earlier one has finished, and an order
//! appears at most once per delivery.

use super::endpoints;
use crate::ids::IdKind;
use crate::store::*;
use klikit_webhook::EventType;
use rusqlite::{Row, Transaction, params};
use std::collections::HashMap;

/// How many ready changes one batching transaction takes at most.
pub(super) const FORM_SLICE: usize = 5_000;

pub(super) fn event_type_column(row: &Row<'_>, index: usize) -> rusqlite::Result<EventType> {
    let text: String = row.get(index)?;
    text.parse().map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(err))
    })
}

struct ReadyChange {
    queue_id: i64,
    mapping_id: String,
    partner_id: String,
    order_id: i64,
    event_type: EventType,
    brand_id: i64,
    branch_id: i64,
    /// The record's size: batches are cut by bytes; the bytes themselves are read
    /// when the delivery is sent.
    record_len: usize,
    queued_at: Millis,
}

/// One tick of batching over at most [`FORM_SLICE`] ready changes. Returns (deliveries
/// formed, changes read).
pub(super) fn form_deliveries(
    tx: &Transaction<'_>,
    limits: BatchLimits,
    now: Millis,
) -> StoreResult<(usize, usize)> {
    let ready = tx
        .prepare_cached(
            "SELECT q.id, q.mapping_id, q.partner_id, q.order_id, c.event_type, c.brand_id,
                    c.branch_id, substr(c.record, 1, 5), length(c.record), q.queued_at
             FROM queue q
             JOIN order_changes c ON c.order_id = q.order_id AND c.version = q.order_version
             JOIN partners p ON p.id = q.partner_id
             WHERE q.state = 'ready' AND p.enabled = 1
             ORDER BY q.id
             LIMIT ?1",
        )?
        .query_map([FORM_SLICE as i64], |row| {
            Ok(ReadyChange {
                queue_id: row.get(0)?,
                mapping_id: row.get(1)?,
                partner_id: row.get(2)?,
                order_id: row.get(3)?,
                event_type: event_type_column(row, 4)?,
                brand_id: row.get(5)?,
                branch_id: row.get(6)?,
                record_len: packed::unpacked_length(
                    &row.get::<_, Vec<u8>>(7)?,
                    row.get::<_, i64>(8)? as usize,
                ),
                queued_at: row.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let read = ready.len();
    // A mapping fixes partner, URL, event type and brand; with the branch it is the
    // batching key. Groups keep the order in which their first change was queued.
    let mut groups: Vec<Vec<ReadyChange>> = Vec::new();
    let mut index: HashMap<(String, i64), usize> = HashMap::new();
    for change in ready {
        let key = (change.mapping_id.clone(), change.branch_id);
        let slot = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[slot].push(change);
    }
    let mut formed = 0;
    for group in groups {
        for batch in split_batches(group, limits) {
            insert_delivery(tx, &batch, now)?;
            formed += 1;
        }
    }
    Ok((formed, read))
}

fn split_batches(group: Vec<ReadyChange>, limits: BatchLimits) -> Vec<Vec<ReadyChange>> {
    let mut batches = Vec::new();
    let mut current: Vec<ReadyChange> = Vec::new();
    let mut bytes = delivery_body::ENVELOPE_OVERHEAD;
    for change in group {
        let size = change.record_len + 1;
        let full = current.len() >= limits.max_orders || bytes + size > limits.max_bytes;
        if full && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
            bytes = delivery_body::ENVELOPE_OVERHEAD;
        }
        bytes += size;
        current.push(change);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn insert_delivery(tx: &Transaction<'_>, batch: &[ReadyChange], now: Millis) -> StoreResult<()> {
    let Some(first) = batch.first() else {
        return Ok(());
    };
    let event_id = IdKind::Event.generate();
    let order_ids: Vec<i64> = batch.iter().map(|c| c.order_id).collect();
    let first_ingested_at = batch.iter().map(|c| c.queued_at).min().unwrap_or(now);
    tx.prepare_cached(
        "INSERT INTO deliveries (id, partner_id, mapping_id, event_type, brand_id, branch_id,
                                 order_ids, body, state, next_attempt_at, first_ingested_at,
                                 created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, X'', 'pending', ?8, ?9, ?8)",
    )?
    .execute(params![
        event_id,
        first.partner_id,
        first.mapping_id,
        first.event_type.as_str(),
        first.brand_id,
        first.branch_id,
        serde_json::to_string(&order_ids).unwrap_or_else(|_| "[]".into()),
        now,
        first_ingested_at
    ])?;
    let mut mark =
        tx.prepare_cached("UPDATE queue SET state = 'batched', delivery_id = ?1 WHERE id = ?2")?;
    for change in batch {
        mark.execute(params![event_id, change.queue_id])?;
    }
    Ok(())
}

/// How many due deliveries one claim looks at for each one it may take: enough that a
/// busy URL at the head of the queue does not hide the others behind it.
const CLAIM_WINDOW_FACTOR: usize = 8;

/// Leases up to `claim.limit` due deliveries of enabled partners that `claim.accept`
/// takes, skipping (in the query) the URLs and hosts saturated in the claiming process
/// and, when `claim.only_hosts` is set, every other host. Candidates are read without
/// their bodies; only the taken ones are leased and read in full. Each lease gets a
/// fresh token, and the claim assigns the attempt its number by counting it in
/// `attempts`, so no two attempts of a delivery share a number.
pub(super) fn claim_due(
    tx: &Transaction<'_>,
    claim: &mut ClaimRequest,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let list = |values: &[String]| serde_json::to_string(values).unwrap_or_else(|_| "[]".into());
    let saturated_urls = list(&claim.saturated_urls);
    let saturated_hosts = list(&claim.saturated_hosts);
    let only_hosts = claim.only_hosts.as_deref().map(list);
    // Endpoint health (`endpoints.rs`): open circuits pass only their due probe,
    // disabled endpoints nothing.
    let candidates = tx
        .prepare_cached(&format!(
            "SELECT d.id, m.url, d.partner_id, ifnull(e.state = 'open' AND d.test = 0, 0)
             FROM deliveries d
             JOIN mappings m ON m.id = d.mapping_id
             JOIN partners p ON p.id = d.partner_id
             LEFT JOIN endpoints e ON e.partner_id = d.partner_id AND e.url = m.url
             WHERE d.state = 'pending' AND d.held = 0 AND d.next_attempt_at <= ?1
               AND (d.lease_until IS NULL OR d.lease_until <= ?1)
               AND p.enabled = 1 AND {claimable}
               AND m.url NOT IN (SELECT value FROM json_each(?2))
               AND m.host NOT IN (SELECT value FROM json_each(?3))
               AND (?4 IS NULL OR m.host IN (SELECT value FROM json_each(?4)))
             ORDER BY d.next_attempt_at
             LIMIT ?5",
            claimable = endpoints::CLAIMABLE
        ))?
        .query_map(
            params![
                claim.now,
                saturated_urls,
                saturated_hosts,
                only_hosts,
                (claim.limit * CLAIM_WINDOW_FACTOR).min(4096) as i64
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, bool>(3)?,
                ))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let lease_until = claim.now + claim.lease.as_millis() as i64;
    let mut lease = tx.prepare_cached(
        "UPDATE deliveries SET lease_token = ?1, lease_until = ?2, attempts = attempts + 1
         WHERE id = ?3
         RETURNING id, partner_id, event_type, body, attempts, retry_index, first_ingested_at,
                   json_array_length(order_ids), test, brand_id, branch_id",
    )?;
    // The previous secret is read only while its grace window is open at the claim;
    // the attempt compares the switch time with its own clock.
    let mut secret = tx.prepare_cached(
        "SELECT webhook_secret_enc,
                CASE WHEN webhook_secret_switch_at > ?2 THEN webhook_secret_prev_enc END,
                webhook_secret_switch_at, signature_scheme
         FROM partners WHERE id = ?1",
    )?;
    let mut claimed = Vec::new();
    for (event_id, url, partner_id, probe) in candidates {
        if claimed.len() == claim.limit {
            break;
        }
        if !(claim.accept)(&url) {
            continue;
        }
        if probe && !endpoints::take_probe(tx, &partner_id, &url, claim.now)? {
            continue;
        }
        let lease_token = format!("lse_{}", uuid::Uuid::now_v7().simple());
        let (mut delivery, brand_id, branch_id) =
            lease.query_row(params![lease_token, lease_until, event_id], |row| {
                let delivery = ClaimedDelivery {
                    event_id: row.get(0)?,
                    lease_token: lease_token.clone(),
                    partner_id: row.get(1)?,
                    event_type: event_type_column(row, 2)?,
                    url: url.clone(),
                    body: row.get(3)?,
                    webhook_secret_encrypted: Vec::new(),
                    previous_webhook_secret_encrypted: None,
                    webhook_secret_switch_at: None,
                    signature_scheme: SignatureScheme::Klikit,
                    attempt_number: row.get(4)?,
                    retry_index: row.get(5)?,
                    first_ingested_at: row.get(6)?,
                    order_count: row.get(7)?,
                    test: row.get(8)?,
                    probe,
                };
                Ok((delivery, row.get(9)?, row.get(10)?))
            })?;
        delivery.body =
            super::deliveries::body(tx, &delivery.event_id, brand_id, branch_id, delivery.body)?;
        secret.query_row(params![delivery.partner_id, claim.now], |row| {
            delivery.webhook_secret_encrypted = row.get(0)?;
            delivery.previous_webhook_secret_encrypted = row.get(1)?;
            delivery.webhook_secret_switch_at = row.get(2)?;
            delivery.signature_scheme = super::partners::signature_scheme_column(row, 3)?;
            Ok(())
        })?;
        claimed.push(delivery);
    }
    Ok(claimed)
}

/// Gives back leases that were never used. While a lease still holds, nobody has
/// claimed the delivery since, so its attempt number is given back too and the next
/// claim reuses it: numbers stay unique and without gaps.
pub(super) fn release_leases(tx: &Transaction<'_>, leases: &[HeldLease]) -> StoreResult<()> {
    let mut release = tx.prepare_cached(
        "UPDATE deliveries SET lease_token = NULL, lease_until = NULL, attempts = attempts - 1
         WHERE id = ?1 AND lease_token = ?2 AND state = 'pending'",
    )?;
    for held in leases {
        release.execute(params![held.event_id, held.lease_token])?;
    }
    Ok(())
}

/// Records each attempt under its own number and moves its delivery on. An outcome
/// whose lease no longer holds (the lease expired and a later claim, by this process
/// or another, replaced it; or the delivery was stopped) is still recorded as an
/// attempt but does not change the delivery. Returns how many outcomes were stale.
pub(super) fn record_outcomes(
    tx: &Transaction<'_>,
    outcomes: &[AttemptOutcome],
) -> StoreResult<usize> {
    let mut update = tx.prepare_cached(
        "UPDATE deliveries SET state = CASE WHEN test = 1 AND ?1 = 'pending' THEN 'dead' ELSE ?1 END,
                dead_reason = CASE WHEN test = 1 AND ?1 = 'pending' THEN 'test_attempted_once'
                                   ELSE ?2 END,
                retry_index = retry_index + ?3, next_attempt_at = ifnull(?4, next_attempt_at),
                finished_at = CASE WHEN test = 1 THEN ?8 ELSE ?5 END,
                lease_token = NULL, lease_until = NULL
         WHERE id = ?6 AND state = 'pending' AND lease_token = ?7",
    )?;
    let mut stale = 0;
    for outcome in outcomes {
        log_attempt(tx, outcome)?;
        // Where the outcome moves the delivery: acknowledged, due again, or dead.
        let (state, dead_reason, retry_at, finished_at) = match (&outcome.result, outcome.retry_at)
        {
            (AttemptResult::Acknowledged { .. }, _) => {
                ("delivered", None, None, Some(outcome.finished_at))
            }
            // A failed probe waits on its circuit, its retry schedule where it was.
            (AttemptResult::Failed { .. }, _) if outcome.probe => ("pending", None, None, None),
            (AttemptResult::Failed { .. }, Some(at)) => ("pending", None, Some(at), None),
            (AttemptResult::Failed { .. }, None) => (
                "dead",
                Some("retries_exhausted"),
                None,
                Some(outcome.finished_at),
            ),
        };
        let changed = update.execute(params![
            state,
            dead_reason,
            i64::from(retry_at.is_some()),
            retry_at,
            finished_at,
            outcome.event_id,
            outcome.lease_token,
            outcome.finished_at
        ])?;
        if changed == 0 {
            stale += 1;
        } else if finished_at.is_some() {
            finish_delivery_changes(tx, &outcome.event_id)?;
        }
    }
    Ok(stale)
}

fn log_attempt(tx: &Transaction<'_>, outcome: &AttemptOutcome) -> StoreResult<()> {
    let (status, error_kind, error) = match &outcome.result {
        AttemptResult::Acknowledged { status } => (Some(*status), None, None),
        AttemptResult::Failed {
            status,
            error_kind,
            error,
            ..
        } => (*status, Some(error_kind.as_str()), Some(error.as_str())),
    };
    tx.prepare_cached(
        "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, url, status_code,
                               error_kind, error, response_excerpt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        outcome.event_id,
        outcome.attempt_number,
        outcome.started_at,
        outcome.duration_ms,
        outcome.url,
        status,
        error_kind,
        error,
        outcome.response_excerpt
    ])?;
    Ok(())
}

/// Marks a finished delivery's changes finished and lets each order's next change in
/// line become ready.
pub(super) fn finish_delivery_changes(tx: &Transaction<'_>, event_id: &str) -> StoreResult<()> {
    let waiting_behind = tx
        .prepare_cached(
            "UPDATE queue SET state = 'finished' WHERE delivery_id = ?1 AND state = 'batched'
             RETURNING partner_id, order_id, has_successor",
        )?
        .query_map([event_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, bool>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (partner_id, order_id, _) in waiting_behind.iter().filter(|(_, _, behind)| *behind) {
        advance_sequence(tx, partner_id, *order_id)?;
    }
    Ok(())
}

/// Promotes the earliest waiting change of (partner, order) to ready, unless the
/// sequence still has an unfinished head.
pub(super) fn advance_sequence(
    tx: &Transaction<'_>,
    partner_id: &str,
    order_id: i64,
) -> StoreResult<()> {
    tx.prepare_cached(
        "UPDATE queue SET state = 'ready'
         WHERE id = (SELECT id FROM queue
                     WHERE partner_id = ?1 AND order_id = ?2 AND state = 'waiting'
                     ORDER BY order_version, id LIMIT 1)
           AND NOT EXISTS (SELECT 1 FROM queue
                           WHERE partner_id = ?1 AND order_id = ?2
                             AND state IN ('ready', 'batched'))",
    )?
    .execute(params![partner_id, order_id])?;
    Ok(())
}

/// Deletes a mapping and stops what was pending on it: queued changes become
/// `stopped`, pending deliveries `dead` with reason `mapping_deleted`. Both are kept.
pub(super) fn delete_mapping(
    tx: &Transaction<'_>,
    partner_id: &str,
    mapping_id: &str,
    now: Millis,
) -> StoreResult<DeletedMapping> {
    let deleted = tx.execute(
        "DELETE FROM mappings WHERE id = ?1 AND partner_id = ?2",
        params![mapping_id, partner_id],
    )?;
    if deleted == 0 {
        return Err(StoreError::NotFound {
            what: format!("mapping {mapping_id} of partner {partner_id}"),
        });
    }
    let stopped_deliveries = tx
        .prepare_cached(
            "UPDATE deliveries SET state = 'dead', dead_reason = 'mapping_deleted',
                    finished_at = ?2, lease_token = NULL, lease_until = NULL
             WHERE mapping_id = ?1 AND state = 'pending'
             RETURNING id",
        )?
        .query_map(params![mapping_id, now], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for event_id in &stopped_deliveries {
        finish_delivery_changes(tx, event_id)?;
    }
    let stopped_changes = tx
        .prepare_cached(
            "UPDATE queue SET state = 'stopped'
             WHERE mapping_id = ?1 AND state IN ('waiting', 'ready')
             RETURNING partner_id, order_id",
        )?
        .query_map([mapping_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (partner_id, order_id) in &stopped_changes {
        advance_sequence(tx, partner_id, *order_id)?;
    }
    Ok(DeletedMapping {
        mapping_id: mapping_id.to_owned(),
        stopped: (stopped_deliveries.len() + stopped_changes.len()) as u64,
    })
}
