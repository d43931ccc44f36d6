//! Recording attempt outcomes (many in one statement each), finishing a delivery's
//! changes and promoting each order's next change, and stopping a deleted mapping's
//! work.

use super::super::failure::PgResult;
use crate::store::*;
use sqlx::PgConnection;

/// Where an outcome moves its delivery: (state, dead reason, next attempt, finished at).
fn destination(
    outcome: &AttemptOutcome,
) -> (
    &'static str,
    Option<&'static str>,
    Option<Millis>,
    Option<Millis>,
) {
    match (&outcome.result, outcome.retry_at) {
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
    }
}

/// Records every attempt and moves each delivery whose lease still holds. Returns how
/// many outcomes were stale, and whether a later change of some order became ready.
pub(crate) async fn record_outcomes(
    conn: &mut PgConnection,
    outcomes: &[AttemptOutcome],
) -> PgResult<(usize, bool)> {
    if outcomes.is_empty() {
        return Ok((0, false));
    }
    log_attempts(&mut *conn, outcomes).await?;
    let mut ids = Vec::with_capacity(outcomes.len());
    let mut tokens = Vec::with_capacity(outcomes.len());
    let mut states = Vec::with_capacity(outcomes.len());
    let mut reasons = Vec::with_capacity(outcomes.len());
    let mut retry_ats = Vec::with_capacity(outcomes.len());
    let mut finished_ats = Vec::with_capacity(outcomes.len());
    let mut ended_ats = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let (state, reason, retry_at, finished_at) = destination(outcome);
        ids.push(outcome.event_id.as_str());
        tokens.push(outcome.lease_token.as_str());
        states.push(state);
        reasons.push(reason);
        retry_ats.push(retry_at);
        finished_ats.push(finished_at);
        ended_ats.push(outcome.finished_at);
    }
    let moved: Vec<(String, String)> = sqlx::query_as(
        // A test delivery is attempted once: a failure that would be retried ends it.
        "UPDATE deliveries d
         SET state = CASE WHEN d.test AND t.state = 'pending' THEN 'dead' ELSE t.state END,
             dead_reason = CASE WHEN d.test AND t.state = 'pending' THEN 'test_attempted_once'
                                ELSE t.reason END,
             retry_index = d.retry_index + (t.retry_at IS NOT NULL)::int,
             next_attempt_at = coalesce(t.retry_at, d.next_attempt_at),
             finished_at = CASE WHEN d.test THEN t.ended_at ELSE t.finished_at END,
             lease_token = NULL, lease_until = NULL
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
                     $7::bigint[])
              AS t(id, token, state, reason, retry_at, finished_at, ended_at)
         WHERE d.id = t.id AND d.state = 'pending' AND d.lease_token = t.token
         RETURNING d.id, d.state",
    )
    .bind(&ids)
    .bind(&tokens)
    .bind(&states)
    .bind(&reasons)
    .bind(&retry_ats)
    .bind(&finished_ats)
    .bind(&ended_ats)
    .fetch_all(&mut *conn)
    .await?;
    let finished: Vec<String> = moved
        .iter()
        .filter(|(_, state)| state != "pending")
        .map(|(id, _)| id.clone())
        .collect();
    let promoted = finish_delivery_changes(conn, &finished).await?;
    Ok((outcomes.len() - moved.len(), promoted))
}

async fn log_attempts(conn: &mut PgConnection, outcomes: &[AttemptOutcome]) -> PgResult<()> {
    let mut ids = Vec::new();
    let mut numbers = Vec::new();
    let mut started = Vec::new();
    let mut durations = Vec::new();
    let mut urls = Vec::new();
    let mut statuses: Vec<Option<i32>> = Vec::new();
    let mut kinds: Vec<Option<&str>> = Vec::new();
    let mut errors: Vec<Option<&str>> = Vec::new();
    let mut excerpts: Vec<Option<&str>> = Vec::new();
    for outcome in outcomes {
        let (status, kind, error) = match &outcome.result {
            AttemptResult::Acknowledged { status } => (Some(*status), None, None),
            AttemptResult::Failed {
                status,
                error_kind,
                error,
                ..
            } => (*status, Some(error_kind.as_str()), Some(error.as_str())),
        };
        ids.push(outcome.event_id.as_str());
        numbers.push(i64::from(outcome.attempt_number));
        started.push(outcome.started_at);
        durations.push(outcome.duration_ms);
        urls.push(outcome.url.as_str());
        statuses.push(status.map(i32::from));
        kinds.push(kind);
        errors.push(error);
        excerpts.push(outcome.response_excerpt.as_deref());
    }
    // An attempt recorded twice (an outcome written again after a lost answer) keeps
    // its first record.
    sqlx::query(
        "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, url, status_code,
                               error_kind, error, response_excerpt)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                              $6::int[], $7::text[], $8::text[], $9::text[])
         ON CONFLICT (delivery_id, attempt) DO NOTHING",
    )
    .bind(&ids)
    .bind(&numbers)
    .bind(&started)
    .bind(&durations)
    .bind(&urls)
    .bind(&statuses)
    .bind(&kinds)
    .bind(&errors)
    .bind(&excerpts)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks finished deliveries' changes finished and lets each order's next change in
/// line become ready. Returns whether one did.
pub(crate) async fn finish_delivery_changes(
    conn: &mut PgConnection,
    event_ids: &[String],
) -> PgResult<bool> {
    if event_ids.is_empty() {
        return Ok(false);
    }
    let waiting_behind: Vec<(String, i64, bool)> = sqlx::query_as(
        "UPDATE queue q SET state = 'finished'
         FROM partners p
         WHERE p.num = q.partner_num AND q.delivery_id = ANY($1) AND q.state = 'batched'
         RETURNING p.id, q.order_id, q.has_successor",
    )
    .bind(event_ids)
    .fetch_all(&mut *conn)
    .await?;
    let behind: Vec<(&str, i64)> = waiting_behind
        .iter()
        .filter(|(_, _, behind)| *behind)
        .map(|(partner_id, order_id, _)| (partner_id.as_str(), *order_id))
        .collect();
    advance_sequences(conn, &behind).await
}

/// Promotes, for each (partner, order) sequence given, its earliest waiting change to
/// ready unless the sequence still has an unfinished head: one statement for all of
/// them. Returns whether any was promoted.
pub(crate) async fn advance_sequences(
    conn: &mut PgConnection,
    sequences: &[(&str, i64)],
) -> PgResult<bool> {
    let mut sequences = sequences.to_vec();
    sequences.sort_unstable();
    sequences.dedup();
    if sequences.is_empty() {
        return Ok(false);
    }
    let partners: Vec<&str> = sequences.iter().map(|s| s.0).collect();
    let orders: Vec<i64> = sequences.iter().map(|s| s.1).collect();
    let promoted = sqlx::query(
        "UPDATE queue q SET state = 'ready'
         FROM (SELECT (SELECT w.id FROM queue w
                       WHERE w.partner_num = p.num AND w.order_id = t.order_id
                         AND w.state = 'waiting'
                       ORDER BY w.order_version, w.id LIMIT 1) AS id
               FROM unnest($1::text[], $2::bigint[]) AS t(partner_id, order_id)
                    JOIN partners p ON p.id = t.partner_id
               WHERE NOT EXISTS (SELECT 1 FROM queue h
                                 WHERE h.partner_num = p.num AND h.order_id = t.order_id
                                   AND h.state IN ('ready', 'batched'))) AS next
         WHERE q.id = next.id AND q.state = 'waiting'",
    )
    .bind(&partners)
    .bind(&orders)
    .execute(conn)
    .await?;
    Ok(promoted.rows_affected() > 0)
}

/// Deletes a mapping and stops what was pending on it: queued changes become
/// `stopped`, pending deliveries `dead` with reason `mapping_deleted`. Both are kept.
pub(crate) async fn delete_mapping(
    conn: &mut PgConnection,
    partner_id: &str,
    mapping_id: &str,
    now: Millis,
) -> PgResult<DeletedMapping> {
    let deleted = sqlx::query("DELETE FROM mappings WHERE id = $1 AND partner_id = $2")
        .bind(mapping_id)
        .bind(partner_id)
        .execute(&mut *conn)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what: format!("mapping {mapping_id} of partner {partner_id}"),
        }
        .into());
    }
    let stopped_deliveries: Vec<String> = sqlx::query_scalar(
        "UPDATE deliveries SET state = 'dead', dead_reason = 'mapping_deleted',
                finished_at = $2, lease_token = NULL, lease_until = NULL
         WHERE mapping_id = $1 AND state = 'pending'
         RETURNING id",
    )
    .bind(mapping_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    finish_delivery_changes(&mut *conn, &stopped_deliveries).await?;
    let stopped_changes: Vec<(String, i64)> = sqlx::query_as(
        "UPDATE queue q SET state = 'stopped'
         FROM partners p
         WHERE p.id = $2 AND q.partner_num = p.num AND q.mapping_id = $1
           AND q.state IN ('waiting', 'ready')
         RETURNING p.id, q.order_id",
    )
    .bind(mapping_id)
    .bind(partner_id)
    .fetch_all(&mut *conn)
    .await?;
    let stopped: Vec<(&str, i64)> = stopped_changes
        .iter()
        .map(|(partner_id, order_id)| (partner_id.as_str(), *order_id))
        .collect();
    advance_sequences(&mut *conn, &stopped).await?;
    Ok(DeletedMapping {
        mapping_id: mapping_id.to_owned(),
        stopped: (stopped_deliveries.len() + stopped_changes.len()) as u64,
    })
}
