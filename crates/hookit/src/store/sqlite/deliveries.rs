//! Deliveries as operators see them: listing, detail with attempts, and replay.

use super::dispatch::event_type_column;
use crate::store::*;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};

pub(super) const SUMMARY_COLUMNS: &str = "d.id, d.partner_id, d.mapping_id, d.event_type, d.brand_id, \
     d.branch_id, d.order_ids, d.state, d.dead_reason, d.attempts, d.next_attempt_at, \
     d.created_at, d.finished_at";

pub(super) fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<DeliverySummary> {
    let order_ids: String = row.get(6)?;
    let state: String = row.get(7)?;
    let state = DeliveryState::parse(&state).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            7,
            rusqlite::types::Type::Text,
            format!("unknown delivery state {state:?}").into(),
        )
    })?;
    Ok(DeliverySummary {
        event_id: row.get(0)?,
        partner_id: row.get(1)?,
        mapping_id: row.get(2)?,
        event_type: event_type_column(row, 3)?,
        brand_id: row.get(4)?,
        branch_id: row.get(5)?,
        order_ids: serde_json::from_str(&order_ids).unwrap_or_default(),
        next_attempt_at: (state == DeliveryState::Pending)
            .then(|| row.get(10))
            .transpose()?,
        state,
        dead_reason: row.get(8)?,
        attempt_count: row.get(9)?,
        created_at: row.get(11)?,
        finished_at: row.get(12)?,
    })
}

/// The WHERE clause and its values for a filter.
pub(super) fn filter_clause(filter: &DeliveryFilter) -> (String, Vec<Box<dyn ToSql>>) {
    // Test deliveries are read one by one by their event id, never listed or replayed.
    let mut conditions: Vec<&str> = vec!["d.test = 0"];
    let mut values: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(partner_id) = &filter.partner_id {
        conditions.push("d.partner_id = ?");
        values.push(Box::new(partner_id.clone()));
    }
    if let Some(state) = filter.state {
        conditions.push("d.state = ?");
        values.push(Box::new(state.as_str()));
    }
    if let Some(event_type) = filter.event_type {
        conditions.push("d.event_type = ?");
        values.push(Box::new(event_type.as_str()));
    }
    if let Some(order_id) = filter.order_id {
        conditions.push(
            "d.id IN (SELECT delivery_id FROM queue WHERE order_id = ? AND delivery_id IS NOT NULL)",
        );
        values.push(Box::new(order_id));
    }
    if let Some(from) = filter.created_from {
        conditions.push("d.created_at >= ?");
        values.push(Box::new(from));
    }
    if let Some(to) = filter.created_to {
        conditions.push("d.created_at < ?");
        values.push(Box::new(to));
    }
    (conditions.join(" AND "), values)
}

pub(super) fn list(conn: &Connection, filter: &DeliveryFilter) -> StoreResult<DeliveryPage> {
    let (mut clause, mut values) = filter_clause(filter);
    if let Some(before) = &filter.before {
        clause.push_str(" AND d.id < ?");
        values.push(Box::new(before.clone()));
    }
    let limit = filter.limit.clamp(1, 1000);
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM deliveries d WHERE {clause} ORDER BY d.id DESC LIMIT {}",
        limit + 1
    );
    let mut deliveries = conn
        .prepare(&sql)?
        .query_map(params_from_iter(values.iter()), summary_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_cursor = if deliveries.len() > limit {
        deliveries.truncate(limit);
        deliveries.last().map(|d| d.event_id.clone())
    } else {
        None
    };
    Ok(DeliveryPage {
        deliveries,
        next_cursor,
    })
}

pub(super) fn get(conn: &Connection, event_id: &str) -> StoreResult<Option<DeliveryDetail>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS}, d.body, d.brand_id, d.branch_id FROM deliveries d
             WHERE d.id = ?1"
        ))?
        .query_row([event_id], |row| {
            let stored: Vec<u8> = row.get(13)?;
            Ok((summary_from_row(row)?, stored, row.get(14)?, row.get(15)?))
        })
        .optional()?;
    let Some((summary, stored, brand_id, branch_id)) = found else {
        return Ok(None);
    };
    let body = body(conn, event_id, brand_id, branch_id, stored)?;
    let attempts = conn
        .prepare_cached(
            "SELECT attempt, started_at, duration_ms, url, status_code, error_kind, error,
                    response_excerpt
             FROM attempts WHERE delivery_id = ?1 ORDER BY attempt",
        )?
        .query_map([event_id], |row| {
            Ok(AttemptRecord {
                attempt: row.get(0)?,
                started_at: row.get(1)?,
                duration_ms: row.get(2)?,
                url: row.get(3)?,
                status_code: row.get(4)?,
                error_kind: row.get(5)?,
                error: row.get(6)?,
                response_excerpt: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(DeliveryDetail {
        summary,
        body: String::from_utf8_lossy(&body).into_owned(),
        attempts,
    }))
}

/// Replays one delivery: pending again now, same event id and body, a fresh retry
/// schedule. Replay does not re-enter the per-order sequence: it re-sends a record
/// that receivers can recognise as older by its `version`.
pub(super) fn replay_one(
    tx: &Transaction<'_>,
    event_id: &str,
    now: Millis,
) -> StoreResult<DeliverySummary> {
    let current = tx
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM deliveries d WHERE d.id = ?1"
        ))?
        .query_row([event_id], summary_from_row)
        .optional()?
        .filter(|_| !is_test(tx, event_id).unwrap_or(true))
        .ok_or_else(|| StoreError::NotFound {
            what: format!("delivery {event_id}"),
        })?;
    if current.state == DeliveryState::Pending {
        return Err(StoreError::Conflict(format!(
            "delivery {event_id} is still pending (attempt {} made); replay applies to delivered or dead deliveries",
            current.attempt_count
        )));
    }
    let mapped: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM mappings WHERE id = ?1)")?
        .query_row([&current.mapping_id], |row| row.get(0))?;
    if current.dead_reason.as_deref() == Some("mapping_deleted") || !mapped {
        return Err(StoreError::Conflict(format!(
            "delivery {event_id} cannot be sent again: its mapping {} was deleted; map a URL again and new changes will be delivered",
            current.mapping_id
        )));
    }
    reopen(tx, event_id, now)?;
    tx.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM deliveries d WHERE d.id = ?1"
    ))?
    .query_row([event_id], summary_from_row)
    .map_err(StoreError::from)
}

fn reopen(tx: &Transaction<'_>, event_id: &str, now: Millis) -> StoreResult<()> {
    tx.prepare_cached(
        "UPDATE deliveries SET state = 'pending', dead_reason = NULL, retry_index = 0,
                next_attempt_at = ?2, finished_at = NULL, lease_token = NULL, lease_until = NULL
         WHERE id = ?1",
    )?
    .execute(params![event_id, now])?;
    Ok(())
}

/// Replays every non-pending delivery matching the filter whose mapping still exists
/// (dead ones only, unless the filter names a state).
/// A delivery's mapping is gone: the delivery was stopped by its deletion, or its
/// mapping was deleted after it finished.
const GONE: &str = "(ifnull(d.dead_reason, '') = 'mapping_deleted'
     OR NOT EXISTS (SELECT 1 FROM mappings gone WHERE gone.id = d.mapping_id))";

pub(super) fn replay_matching(
    tx: &Transaction<'_>,
    filter: &DeliveryFilter,
    include_delivered: bool,
    now: Millis,
) -> StoreResult<ReplayOutcome> {
    let states: Vec<DeliveryState> = match filter.state {
        Some(DeliveryState::Pending) => Vec::new(),
        Some(state) => vec![state],
        None if include_delivered => vec![DeliveryState::Dead, DeliveryState::Delivered],
        None => vec![DeliveryState::Dead],
    };
    let states: Vec<DeliveryState> = states
        .into_iter()
        .filter(|state| *state != DeliveryState::Delivered || include_delivered)
        .collect();
    if states.is_empty() {
        return Ok(ReplayOutcome {
            replayed: 0,
            skipped: Vec::new(),
            skipped_total: 0,
        });
    }
    let mut filter = filter.clone();
    filter.state = None;
    let (clause, _) = filter_clause(&filter);
    let in_states = states
        .iter()
        .map(|state| format!("'{}'", state.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let matching = format!("{clause} AND d.state IN ({in_states})");
    let params = |first: Option<Box<dyn ToSql>>| {
        let mut all: Vec<Box<dyn ToSql>> = first.into_iter().collect();
        all.extend(filter_clause(&filter).1);
        all
    };
    // What cannot be replayed: deliveries whose mapping was deleted (stopped by it, or
    // finished before it): nothing would ever attempt them again.
    let skipped_total: i64 = tx.query_row(
        &format!(
            "SELECT count(*) FROM deliveries AS d
             WHERE {matching} AND {GONE}"
        ),
        params_from_iter(params(None).iter()),
        |row| row.get(0),
    )?;
    let skipped = tx
        .prepare(&format!(
            "SELECT d.id FROM deliveries AS d
             WHERE {matching} AND {GONE}
             ORDER BY d.id LIMIT {REPLAY_SKIPPED_LISTED}"
        ))?
        .query_map(params_from_iter(params(None).iter()), |row| {
            Ok(SkippedReplay {
                event_id: row.get(0)?,
                reason: "mapping_deleted".into(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let replayed = tx.execute(
        &format!(
            "UPDATE deliveries AS d SET state = 'pending', dead_reason = NULL, retry_index = 0,
                    next_attempt_at = ?, finished_at = NULL, lease_token = NULL, lease_until = NULL
             WHERE {matching} AND NOT {GONE}"
        ),
        params_from_iter(params(Some(Box::new(now))).iter()),
    )?;
    Ok(ReplayOutcome {
        replayed: replayed as u64,
        skipped,
        skipped_total: skipped_total as u64,
    })
}

/// A delivery's body: the bytes stored with it, or (stored empty) formed from its
/// changes' records in queue order (`store::delivery_body`).
pub(super) fn body(
    conn: &Connection,
    event_id: &str,
    brand_id: i64,
    branch_id: i64,
    stored: Vec<u8>,
) -> StoreResult<Vec<u8>> {
    if !stored.is_empty() {
        return Ok(stored);
    }
    let records = conn
        .prepare_cached(
            "SELECT c.record FROM queue q
             JOIN order_changes c ON c.order_id = q.order_id AND c.version = q.order_version
             WHERE q.delivery_id = ?1 ORDER BY q.id",
        )?
        .query_map([event_id], |row| super::ingest::unpacked_column(row, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(delivery_body::envelope(
        brand_id,
        branch_id,
        records.iter().map(Vec::as_slice),
    ))
}

fn is_test(conn: &Connection, event_id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT test FROM deliveries WHERE id = ?1")?
        .query_row([event_id], |row| row.get(0))
}

/// Stores a test delivery, due now, outside every per-order sequence (it has no
/// queued change).
pub(super) fn create_test(tx: &Transaction<'_>, delivery: &NewTestDelivery) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO deliveries (id, partner_id, mapping_id, event_type, brand_id, branch_id,
                                 order_ids, body, state, next_attempt_at, first_ingested_at,
                                 created_at, test)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9, ?9, 1)",
    )?
    .execute(params![
        delivery.event_id,
        delivery.partner_id,
        delivery.mapping_id,
        delivery.event_type.as_str(),
        delivery.brand_id,
        delivery.branch_id,
        format!("[{}]", delivery.order_id),
        delivery.body,
        delivery.now
    ])?;
    Ok(())
}
