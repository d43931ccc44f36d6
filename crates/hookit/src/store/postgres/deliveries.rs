//! Deliveries as operators see them: listing, detail with attempts, and replay.

use super::failure::PgResult;
use super::partners::event_type;
use crate::store::*;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};
use std::collections::HashMap;

pub(super) const SUMMARY_COLUMNS: &str = "d.id, d.partner_id, d.mapping_id, d.event_type, d.brand_id, \
     d.branch_id, d.order_ids, d.state, d.dead_reason, d.attempts, d.next_attempt_at, \
     d.created_at, d.finished_at";

/// The filter's conditions over `d`, its values bound as `$1` to `$6` by
/// [`bind_filter`]; a value left out matches everything. Test deliveries are read one
/// by one by their event id, never listed, replayed or retried.
pub(super) const FILTER: &str = "NOT d.test
     AND ($1::text IS NULL OR d.partner_id = $1)
     AND ($2::text IS NULL OR d.state = $2)
     AND ($3::text IS NULL OR d.event_type = $3)
     AND ($4::bigint IS NULL OR d.id IN (SELECT delivery_id FROM queue
                                         WHERE order_id = $4 AND delivery_id IS NOT NULL))
     AND ($5::bigint IS NULL OR d.created_at >= $5)
     AND ($6::bigint IS NULL OR d.created_at < $6)";

pub(super) fn bind_filter<'q>(
    query: Query<'q, Postgres, PgArguments>,
    filter: &'q DeliveryFilter,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(filter.partner_id.as_deref())
        .bind(filter.state.map(DeliveryState::as_str))
        .bind(filter.event_type.map(|e| e.as_str()))
        .bind(filter.order_id)
        .bind(filter.created_from)
        .bind(filter.created_to)
}

pub(super) fn summary_from_row(row: &PgRow) -> PgResult<DeliverySummary> {
    let order_ids: String = row.try_get(6)?;
    let state: String = row.try_get(7)?;
    let state = DeliveryState::parse(&state).ok_or_else(|| {
        StoreError::Backend(format!(
            "the database holds an unknown delivery state {state:?}"
        ))
    })?;
    Ok(DeliverySummary {
        event_id: row.try_get(0)?,
        partner_id: row.try_get(1)?,
        mapping_id: row.try_get(2)?,
        event_type: event_type(row.try_get(3)?)?,
        brand_id: row.try_get(4)?,
        branch_id: row.try_get(5)?,
        order_ids: serde_json::from_str(&order_ids).unwrap_or_default(),
        next_attempt_at: (state == DeliveryState::Pending)
            .then(|| row.try_get(10))
            .transpose()?,
        state,
        dead_reason: row.try_get(8)?,
        attempt_count: u32::try_from(row.try_get::<i64, _>(9)?).unwrap_or(u32::MAX),
        created_at: row.try_get(11)?,
        finished_at: row.try_get(12)?,
    })
}

pub(super) async fn list(
    conn: &mut PgConnection,
    filter: &DeliveryFilter,
) -> PgResult<DeliveryPage> {
    let limit = filter.limit.clamp(1, 1000);
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM deliveries d
         WHERE {FILTER} AND ($7::text IS NULL OR d.id < $7)
         ORDER BY d.id DESC LIMIT {}",
        limit + 1
    );
    let rows = bind_filter(sqlx::query(&sql), filter)
        .bind(filter.before.as_deref())
        .fetch_all(conn)
        .await?;
    let mut deliveries = rows
        .iter()
        .map(summary_from_row)
        .collect::<PgResult<Vec<_>>>()?;
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

pub(super) async fn get(
    conn: &mut PgConnection,
    event_id: &str,
) -> PgResult<Option<DeliveryDetail>> {
    let Some(row) = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS}, d.body, d.brand_id, d.branch_id FROM deliveries d
         WHERE d.id = $1"
    ))
    .bind(event_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let summary = summary_from_row(&row)?;
    let mut body: Vec<u8> = row.try_get(13)?;
    if body.is_empty() {
        let formed = (event_id.to_owned(), row.try_get(14)?, row.try_get(15)?);
        if let Some((_, formed)) = formed_bodies(&mut *conn, &[formed]).await?.pop() {
            body = formed;
        }
    }
    let attempts = sqlx::query(
        "SELECT attempt, started_at, duration_ms, url, status_code, error_kind, error,
                response_excerpt
         FROM attempts WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| -> PgResult<AttemptRecord> {
        Ok(AttemptRecord {
            attempt: u32::try_from(row.try_get::<i64, _>(0)?).unwrap_or(u32::MAX),
            started_at: row.try_get(1)?,
            duration_ms: row.try_get(2)?,
            url: row.try_get(3)?,
            status_code: row
                .try_get::<Option<i32>, _>(4)?
                .and_then(|code| u16::try_from(code).ok()),
            error_kind: row.try_get(5)?,
            error: row.try_get(6)?,
            response_excerpt: row.try_get(7)?,
        })
    })
    .collect::<PgResult<Vec<_>>>()?;
    Ok(Some(DeliveryDetail {
        summary,
        body: String::from_utf8_lossy(&body).into_owned(),
        attempts,
    }))
}

/// A delivery that is not a test one, its row locked if `lock`.
async fn summary(conn: &mut PgConnection, event_id: &str, lock: bool) -> PgResult<DeliverySummary> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM deliveries d WHERE d.id = $1 AND NOT d.test {}",
        if lock { "FOR UPDATE" } else { "" }
    ))
    .bind(event_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: format!("delivery {event_id}"),
    })?;
    summary_from_row(&row)
}

/// Replays one delivery: pending again now, same event id and body, a fresh retry
/// schedule. The row is locked first, so a concurrent outcome or replay is ordered
/// before or after this one.
pub(super) async fn replay_one(
    conn: &mut PgConnection,
    event_id: &str,
    now: Millis,
) -> PgResult<DeliverySummary> {
    let current = summary(&mut *conn, event_id, true).await?;
    if current.state == DeliveryState::Pending {
        return Err(StoreError::Conflict(format!(
            "delivery {event_id} is still pending (attempt {} made); replay applies to delivered or dead deliveries",
            current.attempt_count
        ))
        .into());
    }
    let mapped: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM mappings WHERE id = $1)")
        .bind(&current.mapping_id)
        .fetch_one(&mut *conn)
        .await?;
    if current.dead_reason.as_deref() == Some("mapping_deleted") || !mapped {
        return Err(StoreError::Conflict(format!(
            "delivery {event_id} cannot be sent again: its mapping {} was deleted; map a URL again and new changes will be delivered",
            current.mapping_id
        ))
        .into());
    }
    sqlx::query(
        "UPDATE deliveries SET state = 'pending', dead_reason = NULL, retry_index = 0,
                next_attempt_at = $2, finished_at = NULL, lease_token = NULL, lease_until = NULL
         WHERE id = $1",
    )
    .bind(event_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    summary(conn, event_id, false).await
}

/// A delivery's mapping is gone: the delivery was stopped by its deletion, or its
/// mapping was deleted after it finished.
const GONE: &str = "(coalesce(d.dead_reason, '') = 'mapping_deleted'
     OR NOT EXISTS (SELECT 1 FROM mappings gone WHERE gone.id = d.mapping_id))";

pub(super) async fn replay_matching(
    conn: &mut PgConnection,
    filter: &DeliveryFilter,
    include_delivered: bool,
    now: Millis,
) -> PgResult<ReplayOutcome> {
    let states: Vec<&str> = match filter.state {
        Some(DeliveryState::Pending) => Vec::new(),
        Some(state) => vec![state],
        None if include_delivered => vec![DeliveryState::Dead, DeliveryState::Delivered],
        None => vec![DeliveryState::Dead],
    }
    .into_iter()
    .filter(|state| *state != DeliveryState::Delivered || include_delivered)
    .map(DeliveryState::as_str)
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
    let matching = format!("{FILTER} AND d.state = ANY($7)");
    let skipped_total: i64 = bind_filter(
        sqlx::query(&format!(
            "SELECT count(*) FROM deliveries d WHERE {matching} AND {GONE}"
        )),
        &filter,
    )
    .bind(&states)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    let skipped = bind_filter(
        sqlx::query(&format!(
            "SELECT d.id FROM deliveries d WHERE {matching} AND {GONE}
             ORDER BY d.id LIMIT {REPLAY_SKIPPED_LISTED}"
        )),
        &filter,
    )
    .bind(&states)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| -> PgResult<SkippedReplay> {
        Ok(SkippedReplay {
            event_id: row.try_get(0)?,
            reason: "mapping_deleted".into(),
        })
    })
    .collect::<PgResult<Vec<_>>>()?;
    let replayed = bind_filter(
        sqlx::query(&format!(
            "UPDATE deliveries d SET state = 'pending', dead_reason = NULL, retry_index = 0,
                    next_attempt_at = $8, finished_at = NULL, lease_token = NULL,
                    lease_until = NULL
             WHERE {matching} AND NOT {GONE}"
        )),
        &filter,
    )
    .bind(&states)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(ReplayOutcome {
        replayed,
        skipped,
        skipped_total: skipped_total as u64,
    })
}

/// Stores a test delivery, due now, outside every per-order sequence (it has no
/// queued change).
pub(super) async fn create_test(
    conn: &mut PgConnection,
    delivery: &NewTestDelivery,
) -> PgResult<()> {
    sqlx::query(
        "INSERT INTO deliveries (id, partner_id, mapping_id, event_type, brand_id, branch_id,
                                 order_ids, order_count, body, state, next_attempt_at,
                                 first_ingested_at, created_at, test)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, 'pending', $9, $9, $9, TRUE)",
    )
    .bind(&delivery.event_id)
    .bind(&delivery.partner_id)
    .bind(&delivery.mapping_id)
    .bind(delivery.event_type.as_str())
    .bind(delivery.brand_id)
    .bind(delivery.branch_id)
    .bind(format!("[{}]", delivery.order_id))
    .bind(&delivery.body)
    .bind(delivery.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The bodies of deliveries stored without one, each given as (event id, brand, branch):
/// formed from their changes' records in queue order (`store::delivery_body`), in one
/// statement.
pub(super) async fn formed_bodies(
    conn: &mut PgConnection,
    deliveries: &[(String, i64, i64)],
) -> PgResult<Vec<(String, Vec<u8>)>> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = deliveries.iter().map(|(id, ..)| id.as_str()).collect();
    let stored: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT q.delivery_id, c.record FROM queue q
         JOIN order_changes c ON c.order_id = q.order_id AND c.version = q.order_version
         WHERE q.delivery_id = ANY($1)
         ORDER BY q.delivery_id, q.id",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    let rows = stored
        .into_iter()
        .map(|(id, record)| Ok((id, super::ingest::unpacked(record)?)))
        .collect::<PgResult<Vec<_>>>()?;
    let mut records: HashMap<&str, Vec<&[u8]>> = HashMap::with_capacity(deliveries.len());
    for (delivery_id, record) in &rows {
        records
            .entry(delivery_id.as_str())
            .or_default()
            .push(record.as_slice());
    }
    Ok(deliveries
        .iter()
        .map(|(id, brand_id, branch_id)| {
            let records = records.remove(id.as_str()).unwrap_or_default();
            (
                id.clone(),
                delivery_body::envelope(*brand_id, *branch_id, records),
            )
        })
        .collect())
}
