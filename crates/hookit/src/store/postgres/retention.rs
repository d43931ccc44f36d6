//! Pruning on PostgreSQL: the same rules as SQLite's, one bounded batch per
//! transaction, safe with several processes pruning and ingesting at once. A batch is
//! bounded by [`PRUNE_BATCH`] alone: PostgreSQL has no single writer for it to hold up,
//! so SQLite's time budget does not apply.
//!
//! Deliveries are deleted by a statement that re-checks their state and time under
//! the row lock (`FOR UPDATE SKIP LOCKED` picks them), so a delivery an operator
//! replays meanwhile is either replayed or gone, never half of each. Orders are
//! pruned under the same transaction-scoped advisory locks ingest and partner changes
//! take on each order id (ascending, so they cannot deadlock), and re-checked once
//! locked: a change committed meanwhile keeps its order. Plain deletes are enough for
//! space; autovacuum reuses the freed tuples.

use super::failure::PgResult;
use super::ingest::lock_orders;
use crate::store::*;
use sqlx::{PgConnection, Row};

pub(super) async fn prune_batch(
    conn: &mut PgConnection,
    kind: PruneKind,
    cut: Cutoffs,
    now: Millis,
) -> PgResult<PruneBatch> {
    match kind {
        PruneKind::Delivered => prune_deliveries(conn, "delivered", cut.delivered).await,
        PruneKind::Dead => prune_deliveries(conn, "dead", cut.dead).await,
        PruneKind::Orders => prune_orders(conn, cut.orders, now).await,
        PruneKind::Tombstones => {
            // No order lock: a change racing the tombstone's removal continues from it
            // or starts over, and either is right for an order this long unchanged.
            let deleted = sqlx::query(
                "WITH picked AS (
                     SELECT id FROM order_tombstones WHERE pruned_at < $1
                     ORDER BY pruned_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                 DELETE FROM order_tombstones t USING picked WHERE t.id = picked.id",
            )
            .bind(cut.orders)
            .bind(PRUNE_BATCH as i64)
            .execute(conn)
            .await?
            .rows_affected();
            Ok(PruneBatch::of_rows(deleted))
        }
        PruneKind::IdempotencyKeys => {
            let deleted = sqlx::query(
                // A CTE, so that the limited pick runs once (a subquery under `IN`
                // may be run again by the plan, and pick more).
                "WITH picked AS (
                     SELECT scope, key FROM idempotency_keys WHERE created_at < $1
                     ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                 DELETE FROM idempotency_keys k USING picked
                 WHERE k.scope = picked.scope AND k.key = picked.key",
            )
            .bind(cut.idempotency_keys)
            .bind(PRUNE_BATCH as i64)
            .execute(conn)
            .await?
            .rows_affected();
            Ok(PruneBatch::of_rows(deleted))
        }
    }
}

async fn prune_deliveries(
    conn: &mut PgConnection,
    state: &str,
    cutoff: Millis,
) -> PgResult<PruneBatch> {
    // The state is a literal in each query so that its partial index applies.
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "WITH picked AS (
             SELECT id FROM deliveries WHERE state = '{state}' AND finished_at < $1
             ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         DELETE FROM deliveries d USING picked
         WHERE d.id = picked.id AND d.state = '{state}' AND d.finished_at < $1
         RETURNING d.id"
    ))
    .bind(cutoff)
    .bind(PRUNE_BATCH as i64)
    .fetch_all(&mut *conn)
    .await?;
    let attempts = sqlx::query("DELETE FROM attempts WHERE delivery_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let queue = sqlx::query("DELETE FROM queue WHERE delivery_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(PruneBatch {
        records: ids.len() as u64,
        rows: ids.len() as u64 + attempts + queue,
        more: ids.len() == PRUNE_BATCH,
    })
}

/// The condition an order must meet to go (see the SQLite module for why it is
/// enough once the deliveries were pruned).
const ORDER_PRUNABLE: &str = "o.changed_at < $1
    AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.order_id = o.id AND q.state <> 'stopped')";

async fn prune_orders(
    conn: &mut PgConnection,
    cutoff: Millis,
    now: Millis,
) -> PgResult<PruneBatch> {
    let candidates: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT o.id FROM orders o WHERE {ORDER_PRUNABLE} ORDER BY o.changed_at LIMIT $2"
    ))
    .bind(cutoff)
    .bind(PRUNE_BATCH as i64)
    .fetch_all(&mut *conn)
    .await?;
    if candidates.is_empty() {
        return Ok(PruneBatch::default());
    }
    lock_orders(&mut *conn, &candidates).await?;
    // Locked now: what still qualifies goes, leaving its tombstone.
    let ids: Vec<i64> = sqlx::query_scalar(&format!(
        "WITH gone AS (
             DELETE FROM orders o WHERE o.id = ANY($2) AND {ORDER_PRUNABLE}
             RETURNING o.id, o.version, o.platform_updated_at, o.platform_stored_at)
         INSERT INTO order_tombstones (id, version, platform_updated_at, platform_stored_at,
                                       pruned_at)
         SELECT id, version, platform_updated_at, platform_stored_at, $3 FROM gone
         ON CONFLICT (id) DO UPDATE SET
            version = excluded.version, platform_updated_at = excluded.platform_updated_at,
            platform_stored_at = excluded.platform_stored_at, pruned_at = excluded.pruned_at
         RETURNING id"
    ))
    .bind(cutoff)
    .bind(&candidates)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let stopped = sqlx::query("DELETE FROM queue WHERE order_id = ANY($1) AND state = 'stopped'")
        .bind(&ids)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let changes = sqlx::query("DELETE FROM order_changes WHERE order_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(PruneBatch {
        records: ids.len() as u64,
        rows: ids.len() as u64 + stopped + changes,
        more: ids.len() == PRUNE_BATCH,
    })
}

pub(super) async fn count_prunable(conn: &mut PgConnection, cut: Cutoffs) -> PgResult<PruneCounts> {
    let row = sqlx::query(
        "SELECT
            (SELECT count(*) FROM deliveries WHERE state = 'delivered' AND finished_at < $1),
            (SELECT count(*) FROM deliveries WHERE state = 'dead' AND finished_at < $2),
            (SELECT count(*) FROM orders o
             WHERE o.changed_at < $3
               AND NOT EXISTS (
                   SELECT 1 FROM queue q LEFT JOIN deliveries d ON d.id = q.delivery_id
                   WHERE q.order_id = o.id AND q.state <> 'stopped'
                     AND NOT (q.state = 'finished'
                              AND (d.id IS NULL
                                   OR (d.state = 'delivered' AND d.finished_at < $1)
                                   OR (d.state = 'dead' AND d.finished_at < $2))))),
            (SELECT count(*) FROM idempotency_keys WHERE created_at < $4),
            (SELECT count(*) FROM order_tombstones WHERE pruned_at < $3)",
    )
    .bind(cut.delivered)
    .bind(cut.dead)
    .bind(cut.orders)
    .bind(cut.idempotency_keys)
    .fetch_one(conn)
    .await?;
    let count = |index: usize| -> PgResult<u64> { Ok(row.try_get::<i64, _>(index)? as u64) };
    Ok(PruneCounts {
        delivered: count(0)?,
        dead: count(1)?,
        orders: count(2)?,
        tombstones: count(4)?,
        idempotency_keys: count(3)?,
    })
}

/// The tables whose rows pruning deletes or the queue's work updates: where dead rows
/// pile up between vacuums.
const VACUUMED: [&str; 8] = [
    "queue",
    "deliveries",
    "attempts",
    "order_changes",
    "orders",
    "order_tombstones",
    "idempotency_keys",
    "endpoints",
];

/// Vacuums [`VACUUMED`], one table per statement (each under the pool's statement
/// timeout), skipping a table another vacuum holds. Failures are logged, not returned.
pub(super) async fn vacuum(pool: &sqlx::PgPool) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(error = %err, "could not vacuum after pruning: no connection");
            return;
        }
    };
    for table in VACUUMED {
        // VACUUM cannot run inside a transaction: one statement on its own, not kept
        // as a prepared statement.
        let sql = format!("VACUUM (SKIP_LOCKED) {table}");
        if let Err(err) = sqlx::query(&sql)
            .persistent(false)
            .execute(&mut *conn)
            .await
        {
            tracing::warn!(table, error = %err, "could not vacuum after pruning");
        }
    }
}
