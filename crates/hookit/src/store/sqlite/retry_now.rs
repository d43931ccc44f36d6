//! Retry now: a pending delivery whose endpoint was just fixed is made due at once,
//! under the same event id, its retry schedule left where it was; the attempt the
//! dispatcher then makes is counted as any other.

use super::deliveries::{SUMMARY_COLUMNS, filter_clause, summary_from_row};
use crate::store::*;
use rusqlite::types::ToSql;
use rusqlite::{OptionalExtension, Transaction, params, params_from_iter};

pub(super) fn retry_one(
    tx: &Transaction<'_>,
    event_id: &str,
    now: Millis,
) -> StoreResult<DeliverySummary> {
    let found = tx
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS}, d.lease_until, d.test FROM deliveries d WHERE d.id = ?1"
        ))?
        .query_row([event_id], |row| {
            let lease_until: Option<Millis> = row.get(13)?;
            let test: bool = row.get(14)?;
            Ok((summary_from_row(row)?, lease_until, test))
        })
        .optional()?;
    let Some((summary, lease_until, false)) = found else {
        return Err(StoreError::NotFound {
            what: format!("delivery {event_id}"),
        });
    };
    if summary.state != DeliveryState::Pending {
        return Err(StoreError::Conflict(format!(
            "delivery {event_id} is {}; retry applies to pending deliveries (replay sends a dead one again)",
            summary.state.as_str()
        )));
    }
    if lease_until.is_some_and(|until| until > now) {
        return Err(StoreError::Conflict(format!(
            "delivery {event_id} has an attempt in flight (attempt {}); wait for its outcome, then retry if it failed",
            summary.attempt_count
        )));
    }
    super::endpoints::retry_as_probe(tx, event_id, now)?;
    tx.prepare_cached("UPDATE deliveries SET next_attempt_at = ?2 WHERE id = ?1")?
        .execute(params![event_id, now])?;
    tx.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM deliveries d WHERE d.id = ?1"
    ))?
    .query_row([event_id], summary_from_row)
    .map_err(StoreError::from)
}

pub(super) fn retry_matching(
    tx: &Transaction<'_>,
    filter: &DeliveryFilter,
    now: Millis,
) -> StoreResult<RetryOutcome> {
    let mut filter = filter.clone();
    filter.state = Some(DeliveryState::Pending);
    let (clause, _) = filter_clause(&filter);
    let params = |first: Option<Box<dyn ToSql>>| {
        let mut all: Vec<Box<dyn ToSql>> = first.into_iter().collect();
        all.extend(filter_clause(&filter).1);
        all
    };
    let in_flight: i64 = tx.query_row(
        &format!(
            "SELECT count(*) FROM deliveries AS d
             WHERE d.lease_until > ? AND {clause}"
        ),
        params_from_iter(params(Some(Box::new(now))).iter()),
        |row| row.get(0),
    )?;
    let retried = tx.execute(
        &format!(
            "UPDATE deliveries AS d SET next_attempt_at = ?
             WHERE (d.lease_until IS NULL OR d.lease_until <= {now}) AND {clause}"
        ),
        params_from_iter(params(Some(Box::new(now))).iter()),
    )?;
    Ok(RetryOutcome {
        retried: retried as u64,
        in_flight: in_flight as u64,
    })
}
