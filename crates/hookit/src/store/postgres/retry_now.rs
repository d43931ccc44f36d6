//! Retry now: a pending delivery whose endpoint was just fixed is made due at once,
//! under the same event id, its retry schedule left where it was; the attempt the
//! dispatcher then makes is counted as any other.
//!
//! The delivery's row is locked before its lease is looked at, so a claim another
//! process is committing is seen: a delivery leased meanwhile answers Conflict, as one
//! with an attempt in flight does on SQLite.

use super::deliveries::{FILTER, SUMMARY_COLUMNS, bind_filter, summary_from_row};
use super::failure::PgResult;
use crate::store::*;
use sqlx::{PgConnection, Row};

pub(super) async fn retry_one(
    conn: &mut PgConnection,
    event_id: &str,
    now: Millis,
) -> PgResult<DeliverySummary> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS}, d.lease_until FROM deliveries d
         WHERE d.id = $1 AND NOT d.test
         FOR UPDATE"
    ))
    .bind(event_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: format!("delivery {event_id}"),
    })?;
    let summary = summary_from_row(&row)?;
    let lease_until: Option<Millis> = row.try_get(13)?;
    if summary.state != DeliveryState::Pending {
        return Err(StoreError::Conflict(format!(
            "delivery {event_id} is {}; retry applies to pending deliveries (replay sends a dead one again)",
            summary.state.as_str()
        ))
        .into());
    }
    if lease_until.is_some_and(|until| until > now) {
        return Err(StoreError::Conflict(format!(
            "delivery {event_id} has an attempt in flight (attempt {}); wait for its outcome, then retry if it failed",
            summary.attempt_count
        ))
        .into());
    }
    super::endpoints::retry_as_probe(&mut *conn, event_id, now).await?;
    let row = sqlx::query(&format!(
        "UPDATE deliveries d SET next_attempt_at = $2 WHERE d.id = $1
         RETURNING {SUMMARY_COLUMNS}"
    ))
    .bind(event_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    summary_from_row(&row)
}

/// Makes every matching pending delivery without a live lease due now. The update
/// re-checks each row's lease under its lock, so a delivery leased by a claim
/// committing meanwhile is left alone.
pub(super) async fn retry_matching(
    conn: &mut PgConnection,
    filter: &DeliveryFilter,
    now: Millis,
) -> PgResult<RetryOutcome> {
    let mut filter = filter.clone();
    filter.state = Some(DeliveryState::Pending);
    let retried = bind_filter(
        sqlx::query(&format!(
            "UPDATE deliveries d SET next_attempt_at = $7
             WHERE {FILTER} AND (d.lease_until IS NULL OR d.lease_until <= $7)"
        )),
        &filter,
    )
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let in_flight: i64 = bind_filter(
        sqlx::query(&format!(
            "SELECT count(*) FROM deliveries d WHERE {FILTER} AND d.lease_until > $7"
        )),
        &filter,
    )
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get(0)?;
    Ok(RetryOutcome {
        retried,
        in_flight: in_flight as u64,
    })
}
