//! Endpoint health in PostgreSQL, as `sqlite/endpoints.rs` keeps it. Several processes
//! meet on an endpoint's row: a probe is taken by an `UPDATE` that re-checks
//! `probe_at` under the row's lock, so only one claim in all the processes gets it; an
//! outcome is applied under `SELECT … FOR UPDATE`, endpoints locked in (partner, URL)
//! order.

use super::failure::PgResult;
use super::operators::record_audit;
use crate::store::endpoint_health::{self, EndpointRow};
use crate::store::*;
use sqlx::{PgConnection, Row};

/// The claim's test of a candidate's endpoint (see `sqlite/endpoints.rs`); `$1` is now.
pub(super) const CLAIMABLE: &str = "(e.state IS NULL OR e.state = 'healthy' OR d.test
        OR (e.state = 'open' AND e.probe_at <= $1
            AND (e.probe_event_id IS NULL OR e.probe_event_id = d.id)))";

/// How many waiting deliveries one claim marks held at most (see `sqlite/endpoints.rs`).
pub(super) const HOLD_SLICE: i64 = 5_000;

/// Marks held the pending deliveries of disabled endpoints that are not yet, taking
/// back any expired lease (see `sqlite/endpoints.rs`). Deliveries another process is
/// claiming are skipped, not waited for. The endpoint and mapping rows are locked
/// `FOR SHARE` and re-checked once free: an enable or a URL change committing at the
/// same moment either comes first (and nothing is marked for it) or waits for this
/// claim and then sees, and clears, what it marked.
pub(super) async fn hold_waiting(conn: &mut PgConnection, now: Millis) -> PgResult<u64> {
    // `= ANY(ARRAY(…))` looks each one up by its id; with `IN (…)` the planner, told
    // the sub-select may give `HOLD_SLICE` rows, hashed them against a scan of every
    // delivery.
    let held = sqlx::query(
        "UPDATE deliveries SET held = TRUE, lease_token = NULL, lease_until = NULL
         WHERE id = ANY(ARRAY(
             SELECT d.id FROM endpoints e
             JOIN mappings m ON m.partner_id = e.partner_id AND m.url = e.url
             JOIN deliveries d ON d.mapping_id = m.id AND d.state = 'pending' AND NOT d.held
             WHERE e.state = 'disabled' AND NOT d.test
               AND (d.lease_until IS NULL OR d.lease_until <= $1)
             LIMIT $2
             FOR UPDATE OF d SKIP LOCKED
             FOR SHARE OF e, m))",
    )
    .bind(now)
    .bind(HOLD_SLICE)
    .execute(conn)
    .await?;
    Ok(held.rows_affected())
}

/// Clears the held mark of a mapping's deliveries unless its (new) URL is a disabled
/// endpoint's: after its URL changed, they go to the new one.
pub(super) async fn release_mapping(conn: &mut PgConnection, mapping_id: &str) -> PgResult<()> {
    sqlx::query(
        "UPDATE deliveries SET held = FALSE
         WHERE mapping_id = $1 AND state = 'pending' AND held
           AND NOT EXISTS (SELECT 1 FROM mappings m
                           JOIN endpoints e ON e.partner_id = m.partner_id AND e.url = m.url
                           WHERE m.id = $1 AND e.state = 'disabled')",
    )
    .bind(mapping_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the probe of an open circuit, if no claim (of any process) took it this
/// cool-down.
pub(super) async fn take_probe(
    conn: &mut PgConnection,
    partner_id: &str,
    url: &str,
    now: Millis,
) -> PgResult<bool> {
    let taken = sqlx::query(
        "UPDATE endpoints SET probe_at = $3 + cooldown_ms, probe_event_id = NULL
         WHERE partner_id = $1 AND url = $2 AND state = 'open' AND probe_at <= $3",
    )
    .bind(partner_id)
    .bind(url)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(taken.rows_affected() == 1)
}

async fn lock_row(
    conn: &mut PgConnection,
    partner_id: &str,
    url: &str,
) -> PgResult<Option<EndpointRow>> {
    let row = sqlx::query(
        "SELECT state, since, failures, failing_since, last_error, cooldown_ms, probe_at
         FROM endpoints WHERE partner_id = $1 AND url = $2 FOR UPDATE",
    )
    .bind(partner_id)
    .bind(url)
    .fetch_optional(conn)
    .await?;
    row.map(|row| -> PgResult<EndpointRow> {
        Ok(EndpointRow {
            state: EndpointState::parse(Some(row.try_get::<String, _>(0)?.as_str())),
            since: row.try_get(1)?,
            failures: row.try_get(2)?,
            failing_since: row.try_get(3)?,
            last_error: row.try_get(4)?,
            cooldown_ms: row.try_get(5)?,
            probe_at: row.try_get(6)?,
        })
    })
    .transpose()
}

async fn write_row(
    conn: &mut PgConnection,
    partner_id: &str,
    url: &str,
    row: &EndpointRow,
) -> PgResult<()> {
    sqlx::query(
        "UPDATE endpoints SET state = $3, since = $4, failures = $5, failing_since = $6,
                last_error = $7, cooldown_ms = $8, probe_at = $9
         WHERE partner_id = $1 AND url = $2",
    )
    .bind(partner_id)
    .bind(url)
    .bind(row.state.as_str())
    .bind(row.since)
    .bind(row.failures)
    .bind(row.failing_since)
    .bind(&row.last_error)
    .bind(row.cooldown_ms)
    .bind(row.probe_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Applies outcomes to their endpoints. An endpoint without a row gets one only when
/// one of its outcomes failed.
pub(super) async fn record_health(
    conn: &mut PgConnection,
    outcomes: &[AttemptOutcome],
    policy: &EndpointPolicy,
) -> PgResult<Vec<EndpointTransition>> {
    let mut ordered: Vec<&AttemptOutcome> = outcomes.iter().collect();
    ordered.sort_by_key(|o| (o.partner_id.as_str(), o.url.as_str(), o.finished_at));
    let mut transitions = Vec::new();
    for group in ordered.chunk_by(|a, b| a.partner_id == b.partner_id && a.url == b.url) {
        let (partner_id, url) = (&group[0].partner_id, &group[0].url);
        let mut row = match lock_row(&mut *conn, partner_id, url).await? {
            Some(row) => row,
            None if group
                .iter()
                .all(|o| matches!(o.result, AttemptResult::Acknowledged { .. })) =>
            {
                continue;
            }
            None => {
                sqlx::query(
                    "INSERT INTO endpoints (partner_id, url) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                )
                .bind(partner_id)
                .bind(url)
                .execute(&mut *conn)
                .await?;
                lock_row(&mut *conn, partner_id, url)
                    .await?
                    .unwrap_or_else(EndpointRow::healthy)
            }
        };
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
                    record_audit(
                        &mut *conn,
                        &endpoint_health::disabled_audit(&transition, &row),
                    )
                    .await?;
                }
                transitions.push(transition);
            }
        }
        if row != before {
            write_row(&mut *conn, partner_id, url, &row).await?;
        }
    }
    Ok(transitions)
}

const LIST: &str = "SELECT k.partner_id, k.url, e.state, e.since, e.last_error,
        (SELECT count(*) FROM deliveries d JOIN mappings m ON m.id = d.mapping_id
         WHERE d.partner_id = k.partner_id AND m.url = k.url
           AND d.state = 'pending' AND NOT d.test)
     FROM (SELECT DISTINCT partner_id, url FROM mappings) k
     LEFT JOIN endpoints e ON e.partner_id = k.partner_id AND e.url = k.url";

fn health_from_row(row: &sqlx::postgres::PgRow) -> PgResult<EndpointHealth> {
    Ok(EndpointHealth {
        partner_id: row.try_get(0)?,
        url: row.try_get(1)?,
        state: EndpointState::parse(row.try_get::<Option<String>, _>(2)?.as_deref()),
        since: row.try_get(3)?,
        last_error: row.try_get(4)?,
        pending: row.try_get::<i64, _>(5)?.max(0) as u64,
    })
}

pub(super) async fn list(
    conn: &mut PgConnection,
    partner_id: Option<&str>,
) -> PgResult<Vec<EndpointHealth>> {
    sqlx::query(&format!(
        "{LIST} WHERE $1::text IS NULL OR k.partner_id = $1 ORDER BY k.partner_id, k.url"
    ))
    .bind(partner_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(health_from_row)
    .collect()
}

async fn get(
    conn: &mut PgConnection,
    partner_id: &str,
    url: &str,
) -> PgResult<Option<EndpointHealth>> {
    sqlx::query(&format!("{LIST} WHERE k.partner_id = $1 AND k.url = $2"))
        .bind(partner_id)
        .bind(url)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(health_from_row)
        .transpose()
}

pub(super) async fn enable(
    conn: &mut PgConnection,
    partner_id: &str,
    url: &str,
    audit: &AuditEntry,
) -> PgResult<EndpointHealth> {
    let Some(before) = get(&mut *conn, partner_id, url).await? else {
        return Err(StoreError::NotFound {
            what: format!("endpoint {url} of partner {partner_id} (no mapping has that URL)"),
        }
        .into());
    };
    sqlx::query(
        "UPDATE endpoints SET state = 'healthy', since = $3, failures = 0, failing_since = NULL,
                cooldown_ms = 0, probe_at = NULL, probe_event_id = NULL
         WHERE partner_id = $1 AND url = $2 AND state <> 'healthy'",
    )
    .bind(partner_id)
    .bind(url)
    .bind(audit.at)
    .execute(&mut *conn)
    .await?;
    // Its held deliveries are due again, each at its own `next_attempt_at`.
    sqlx::query(
        "UPDATE deliveries SET held = FALSE
         WHERE state = 'pending' AND held
           AND mapping_id IN (SELECT id FROM mappings WHERE partner_id = $1 AND url = $2)",
    )
    .bind(partner_id)
    .bind(url)
    .execute(&mut *conn)
    .await?;
    let mut audit = audit.clone();
    if let Some(details) = audit.details.as_object_mut() {
        details.insert("previous_state".into(), before.state.as_str().into());
    }
    record_audit(&mut *conn, &audit).await?;
    get(conn, partner_id, url)
        .await?
        .ok_or_else(|| StoreError::Backend("endpoint vanished while enabled".into()).into())
}

/// Before an operator's retry-now (see `sqlite/endpoints.rs`): refused while the
/// endpoint is disabled; while its circuit is open, the delivery becomes the probe.
pub(super) async fn retry_as_probe(
    conn: &mut PgConnection,
    event_id: &str,
    now: Millis,
) -> PgResult<()> {
    let endpoint: Option<(String, String, String)> = sqlx::query_as(
        "SELECT e.partner_id, e.url, e.state FROM deliveries d
         JOIN mappings m ON m.id = d.mapping_id
         JOIN endpoints e ON e.partner_id = d.partner_id AND e.url = m.url
         WHERE d.id = $1
         FOR UPDATE OF e",
    )
    .bind(event_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((partner_id, url, state)) = endpoint else {
        return Ok(());
    };
    match EndpointState::parse(Some(&state)) {
        EndpointState::Disabled => Err(StoreError::Conflict(format!(
            "delivery {event_id} waits on a disabled endpoint ({url}); enable it \
             (hookit endpoints enable --partner {partner_id} --url …) or change the mapping's URL"
        ))
        .into()),
        EndpointState::Open => {
            sqlx::query(
                "UPDATE endpoints SET probe_at = $3, probe_event_id = $4
                 WHERE partner_id = $1 AND url = $2",
            )
            .bind(&partner_id)
            .bind(&url)
            .bind(now)
            .bind(event_id)
            .execute(conn)
            .await?;
            Ok(())
        }
        EndpointState::Healthy => Ok(()),
    }
}
