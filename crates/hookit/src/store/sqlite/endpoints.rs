//! Endpoint health in SQLite: the `endpoints` table (one row per (partner, URL) that
//! ever failed), the probe an open circuit lets through, and the operator's views.
//! The rule itself is `store/endpoint_health.rs`, shared with PostgreSQL.

use super::operators::record_audit;
use crate::store::endpoint_health::{self, EndpointRow};
use crate::store::*;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// The claim's test of a candidate's endpoint: no row, healthy, an open circuit whose
/// probe is due (and, after a retry-now, only for that delivery), or a test delivery
/// (sent once whatever the endpoint's state). `e` is the endpoints row, `d` the
/// delivery.
pub(super) const CLAIMABLE: &str = "(e.state IS NULL OR e.state = 'healthy' OR d.test = 1
        OR (e.state = 'open' AND e.probe_at <= ?1
            AND (e.probe_event_id IS NULL OR e.probe_event_id = d.id)))";

/// How many waiting deliveries one claim marks held at most, so that the claim that
/// first meets a large backlog on a newly disabled endpoint stays short; the next
/// claims mark the rest.
pub(super) const HOLD_SLICE: i64 = 5_000;

/// Marks held the pending deliveries of disabled endpoints that are not yet (formed
/// since the endpoint was disabled, replayed, or moved to its URL), taking back any
/// expired lease so no late outcome can move them. Held deliveries are out of the due
/// index: a claim after this reads none of them. Finds them from the disabled
/// endpoints, so with none disabled this is one index probe. Test deliveries are
/// never held (they are sent once whatever the endpoint's state).
pub(super) fn hold_waiting(tx: &Transaction<'_>, now: Millis) -> StoreResult<usize> {
    // `CROSS JOIN` fixes the order: without statistics SQLite would rather walk the due
    // index, every due delivery, looking up each one's endpoint.
    let held = tx
        .prepare_cached(
            "UPDATE deliveries SET held = 1, lease_token = NULL, lease_until = NULL
             WHERE rowid IN (
                 SELECT d.rowid FROM endpoints e
                 CROSS JOIN mappings m ON m.partner_id = e.partner_id AND m.url = e.url
                 CROSS JOIN deliveries d
                     ON d.mapping_id = m.id AND d.state = 'pending' AND d.held = 0
                 WHERE e.state = 'disabled' AND d.test = 0
                   AND (d.lease_until IS NULL OR d.lease_until <= ?1)
                 LIMIT ?2)",
        )?
        .execute(params![now, HOLD_SLICE])?;
    Ok(held)
}

/// Clears the held mark of a mapping's deliveries unless its (new) URL is a disabled
/// endpoint's: after its URL changed, they go to the new one.
pub(super) fn release_mapping(tx: &Transaction<'_>, mapping_id: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "UPDATE deliveries SET held = 0
         WHERE mapping_id = ?1 AND state = 'pending' AND held = 1
           AND NOT EXISTS (SELECT 1 FROM mappings m
                           JOIN endpoints e ON e.partner_id = m.partner_id AND e.url = m.url
                           WHERE m.id = ?1 AND e.state = 'disabled')",
    )?
    .execute([mapping_id])?;
    Ok(())
}

/// Takes the probe of an open circuit for one delivery, if no other claim took it this
/// cool-down; the next probe then waits a full cool-down.
pub(super) fn take_probe(
    tx: &Transaction<'_>,
    partner_id: &str,
    url: &str,
    now: Millis,
) -> StoreResult<bool> {
    let taken = tx
        .prepare_cached(
            "UPDATE endpoints SET probe_at = ?3 + cooldown_ms, probe_event_id = NULL
             WHERE partner_id = ?1 AND url = ?2 AND state = 'open' AND probe_at <= ?3",
        )?
        .execute(params![partner_id, url, now])?;
    Ok(taken == 1)
}

fn read_row(tx: &Transaction<'_>, partner_id: &str, url: &str) -> StoreResult<EndpointRow> {
    let row = tx
        .prepare_cached(
            "SELECT state, since, failures, failing_since, last_error, cooldown_ms, probe_at
             FROM endpoints WHERE partner_id = ?1 AND url = ?2",
        )?
        .query_row(params![partner_id, url], |row| {
            Ok(EndpointRow {
                state: EndpointState::parse(row.get::<_, Option<String>>(0)?.as_deref()),
                since: row.get(1)?,
                failures: row.get(2)?,
                failing_since: row.get(3)?,
                last_error: row.get(4)?,
                cooldown_ms: row.get(5)?,
                probe_at: row.get(6)?,
            })
        })
        .optional()?;
    Ok(row.unwrap_or_else(EndpointRow::healthy))
}

fn write_row(
    tx: &Transaction<'_>,
    partner_id: &str,
    url: &str,
    row: &EndpointRow,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO endpoints (partner_id, url, state, since, failures, failing_since,
                                last_error, cooldown_ms, probe_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (partner_id, url) DO UPDATE SET state = excluded.state,
             since = excluded.since, failures = excluded.failures,
             failing_since = excluded.failing_since, last_error = excluded.last_error,
             cooldown_ms = excluded.cooldown_ms, probe_at = excluded.probe_at",
    )?
    .execute(params![
        partner_id,
        url,
        row.state.as_str(),
        row.since,
        row.failures,
        row.failing_since,
        row.last_error,
        row.cooldown_ms,
        row.probe_at
    ])?;
    Ok(())
}

/// Applies outcomes to their endpoints; an endpoint with no row that only succeeded is
/// not written at all, so healthy traffic costs one indexed read per endpoint.
pub(super) fn record_health(
    tx: &Transaction<'_>,
    outcomes: &[AttemptOutcome],
    policy: &EndpointPolicy,
) -> StoreResult<Vec<EndpointTransition>> {
    let mut ordered: Vec<&AttemptOutcome> = outcomes.iter().collect();
    ordered.sort_by_key(|o| (o.partner_id.as_str(), o.url.as_str(), o.finished_at));
    let mut transitions = Vec::new();
    for group in ordered.chunk_by(|a, b| a.partner_id == b.partner_id && a.url == b.url) {
        let (partner_id, url) = (&group[0].partner_id, &group[0].url);
        let mut row = read_row(tx, partner_id, url)?;
        let before = row.clone();
        for outcome in group {
            if let Some((from, reason)) = endpoint_health::apply(&mut row, outcome, policy) {
                let transition = EndpointTransition {
                    partner_id: partner_id.clone(),
                    url: url.clone(),
                    from,
                    to: row.state,
                    reason,
                    at: outcome.finished_at,
                };
                if transition.to == EndpointState::Disabled {
                    record_audit(tx, &endpoint_health::disabled_audit(&transition, &row))?;
                }
                transitions.push(transition);
            }
        }
        if row != before {
            write_row(tx, partner_id, url, &row)?;
        }
    }
    Ok(transitions)
}

const LIST: &str = "SELECT k.partner_id, k.url, e.state, e.since, e.last_error,
        (SELECT count(*) FROM deliveries d JOIN mappings m ON m.id = d.mapping_id
         WHERE d.partner_id = k.partner_id AND m.url = k.url
           AND d.state = 'pending' AND d.test = 0)
     FROM (SELECT DISTINCT partner_id, url FROM mappings) k
     LEFT JOIN endpoints e ON e.partner_id = k.partner_id AND e.url = k.url";

fn health_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointHealth> {
    Ok(EndpointHealth {
        partner_id: row.get(0)?,
        url: row.get(1)?,
        state: EndpointState::parse(row.get::<_, Option<String>>(2)?.as_deref()),
        since: row.get(3)?,
        last_error: row.get(4)?,
        pending: row.get(5)?,
    })
}

pub(super) fn list(
    conn: &Connection,
    partner_id: Option<&str>,
) -> StoreResult<Vec<EndpointHealth>> {
    conn.prepare_cached(&format!(
        "{LIST} WHERE ?1 IS NULL OR k.partner_id = ?1 ORDER BY k.partner_id, k.url"
    ))?
    .query_map([partner_id], health_from_row)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(StoreError::from)
}

pub(super) fn enable(
    tx: &Transaction<'_>,
    partner_id: &str,
    url: &str,
    audit: &AuditEntry,
) -> StoreResult<EndpointHealth> {
    let read = |tx: &Transaction<'_>| {
        tx.prepare_cached(&format!("{LIST} WHERE k.partner_id = ?1 AND k.url = ?2"))?
            .query_row(params![partner_id, url], health_from_row)
            .optional()
    };
    let Some(before) = read(tx)? else {
        return Err(StoreError::NotFound {
            what: format!("endpoint {url} of partner {partner_id} (no mapping has that URL)"),
        });
    };
    tx.prepare_cached(
        "UPDATE endpoints SET state = 'healthy', since = ?3, failures = 0, failing_since = NULL,
                cooldown_ms = 0, probe_at = NULL, probe_event_id = NULL
         WHERE partner_id = ?1 AND url = ?2 AND state <> 'healthy'",
    )?
    .execute(params![partner_id, url, audit.at])?;
    // Its held deliveries are due again, each at its own `next_attempt_at`.
    tx.prepare_cached(
        "UPDATE deliveries SET held = 0
         WHERE state = 'pending' AND held = 1
           AND mapping_id IN (SELECT id FROM mappings WHERE partner_id = ?1 AND url = ?2)",
    )?
    .execute(params![partner_id, url])?;
    let mut audit = audit.clone();
    if let Some(details) = audit.details.as_object_mut() {
        details.insert("previous_state".into(), before.state.as_str().into());
    }
    record_audit(tx, &audit)?;
    read(tx)?.ok_or_else(|| StoreError::Backend("endpoint vanished while enabled".into()))
}

/// Before an operator's retry-now of a delivery: refused while its endpoint is
/// disabled; while its circuit is open, that delivery becomes the probe, let through
/// now.
pub(super) fn retry_as_probe(tx: &Transaction<'_>, event_id: &str, now: Millis) -> StoreResult<()> {
    let endpoint = tx
        .prepare_cached(
            "SELECT e.partner_id, e.url, e.state FROM deliveries d
             JOIN mappings m ON m.id = d.mapping_id
             JOIN endpoints e ON e.partner_id = d.partner_id AND e.url = m.url
             WHERE d.id = ?1",
        )?
        .query_row([event_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    let Some((partner_id, url, state)) = endpoint else {
        return Ok(());
    };
    match EndpointState::parse(Some(&state)) {
        EndpointState::Disabled => Err(StoreError::Conflict(format!(
            "delivery {event_id} waits on a disabled endpoint ({url}); enable it \
             (hookit endpoints enable --partner {partner_id} --url …) or change the mapping's URL"
        ))),
        EndpointState::Open => {
            tx.prepare_cached(
                "UPDATE endpoints SET probe_at = ?3, probe_event_id = ?4
                 WHERE partner_id = ?1 AND url = ?2",
            )?
            .execute(params![partner_id, url, now, event_id])?;
            Ok(())
        }
        EndpointState::Healthy => Ok(()),
    }
}
