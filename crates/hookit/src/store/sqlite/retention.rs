//! Pruning on SQLite: one bounded batch per write, counted dry runs, and the
//! incremental vacuum that gives the freed pages back to the file system.
//!
//! Each batch is one write of the group commit (a savepoint), and the one writer serves
//! ingest and the dispatcher too, so a batch stops at [`PRUNE_BATCH`] records or once it
//! has run for [`PRUNE_WRITE_BUDGET`], whichever comes first; a vacuum write gives pages
//! back in small slices within the same budget. The partial indexes of migration 0009
//! find the oldest finished deliveries, the least recently changed orders and the
//! oldest idempotency keys without a scan.

use crate::store::*;
use rusqlite::{Connection, Transaction, params};
use std::time::Instant;

/// Removes at most [`PRUNE_BATCH`] records of `kind` past their cutoff, stopping early
/// once the write has run for [`PRUNE_WRITE_BUDGET`].
pub(super) fn prune_batch(
    tx: &Transaction<'_>,
    kind: PruneKind,
    cut: Cutoffs,
    now: Millis,
) -> StoreResult<PruneBatch> {
    let started = Instant::now();
    let over_budget = || started.elapsed() >= PRUNE_WRITE_BUDGET;
    let batch = match kind {
        PruneKind::Delivered => prune_deliveries(
            tx,
            "SELECT id FROM deliveries WHERE state = 'delivered' AND finished_at < ?1
             ORDER BY finished_at LIMIT ?2",
            cut.delivered,
            &over_budget,
        )?,
        PruneKind::Dead => prune_deliveries(
            tx,
            "SELECT id FROM deliveries WHERE state = 'dead' AND finished_at < ?1
             ORDER BY finished_at LIMIT ?2",
            cut.dead,
            &over_budget,
        )?,
        PruneKind::Orders => prune_orders(tx, cut.orders, now, &over_budget)?,
        PruneKind::Tombstones => {
            // One statement over a small row each, found by `order_tombstones_pruned`.
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM order_tombstones WHERE id IN
                        (SELECT id FROM order_tombstones WHERE pruned_at < ?1
                         ORDER BY pruned_at LIMIT ?2)",
                )?
                .execute(params![cut.orders, PRUNE_BATCH as i64])? as u64;
            PruneBatch::of_rows(deleted)
        }
        PruneKind::IdempotencyKeys => {
            // One statement over a small row each: well within the budget.
            let deleted =
                tx.prepare_cached(
                    "DELETE FROM idempotency_keys WHERE (scope, key) IN
                        (SELECT scope, key FROM idempotency_keys WHERE created_at < ?1
                         ORDER BY created_at LIMIT ?2)",
                )?
                .execute(params![cut.idempotency_keys, PRUNE_BATCH as i64])? as u64;
            PruneBatch::of_rows(deleted)
        }
    };
    tracing::debug!(
        kind = kind.as_str(),
        records = batch.records,
        rows = batch.rows,
        more = batch.more,
        took_us = started.elapsed().as_micros() as u64,
        "prune batch ran"
    );
    Ok(batch)
}

/// Deletes the deliveries `select` finds (it names the state in the SQL itself, so
/// that its partial index applies), each with its attempts and queue rows, until
/// `over_budget` says stop.
fn prune_deliveries(
    tx: &Transaction<'_>,
    select: &str,
    cutoff: Millis,
    over_budget: &dyn Fn() -> bool,
) -> StoreResult<PruneBatch> {
    let ids = tx
        .prepare_cached(select)?
        .query_map(params![cutoff, PRUNE_BATCH as i64], |row| {
            row.get::<_, String>(0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut attempts = tx.prepare_cached("DELETE FROM attempts WHERE delivery_id = ?1")?;
    let mut queue = tx.prepare_cached("DELETE FROM queue WHERE delivery_id = ?1")?;
    let mut delivery = tx.prepare_cached("DELETE FROM deliveries WHERE id = ?1")?;
    let mut batch = PruneBatch {
        more: ids.len() == PRUNE_BATCH,
        ..PruneBatch::default()
    };
    for (done, id) in ids.iter().enumerate() {
        batch.rows += (attempts.execute([id])? + queue.execute([id])?) as u64;
        let gone = delivery.execute([id])? as u64;
        batch.records += gone;
        batch.rows += gone;
        if done + 1 < ids.len() && over_budget() {
            batch.more = true;
            break;
        }
    }
    Ok(batch)
}

/// Deletes orders unchanged since before `cutoff` that nothing unfinished or kept
/// refers to, until `over_budget` says stop: after the deliveries are pruned, the only
/// queue rows an order can have left are those of kept deliveries, of pending work, or
/// `stopped` ones (their mapping was deleted before they were batched), which go with
/// it.
fn prune_orders(
    tx: &Transaction<'_>,
    cutoff: Millis,
    now: Millis,
    over_budget: &dyn Fn() -> bool,
) -> StoreResult<PruneBatch> {
    let orders = tx
        .prepare_cached(
            "SELECT o.id, o.version, o.platform_updated_at, o.platform_stored_at FROM orders o
             WHERE o.changed_at < ?1
               AND NOT EXISTS (SELECT 1 FROM queue q
                               WHERE q.order_id = o.id AND q.state <> 'stopped')
             ORDER BY o.changed_at LIMIT ?2",
        )?
        .query_map(params![cutoff, PRUNE_BATCH as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<Millis>>(2)?,
                row.get::<_, Option<Millis>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stopped =
        tx.prepare_cached("DELETE FROM queue WHERE order_id = ?1 AND state = 'stopped'")?;
    let mut changes = tx.prepare_cached("DELETE FROM order_changes WHERE order_id = ?1")?;
    let mut order = tx.prepare_cached("DELETE FROM orders WHERE id = ?1")?;
    let mut tombstone = tx.prepare_cached(
        "INSERT INTO order_tombstones (id, version, platform_updated_at, platform_stored_at,
                                       pruned_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET
            version = excluded.version, platform_updated_at = excluded.platform_updated_at,
            platform_stored_at = excluded.platform_stored_at, pruned_at = excluded.pruned_at",
    )?;
    let mut batch = PruneBatch {
        more: orders.len() == PRUNE_BATCH,
        ..PruneBatch::default()
    };
    for (done, &(id, version, updated_at, stored_at)) in orders.iter().enumerate() {
        batch.rows += (stopped.execute([id])? + changes.execute([id])?) as u64;
        batch.records += order.execute([id])? as u64;
        batch.rows += 1;
        tombstone.execute(params![id, version, updated_at, stored_at, now])?;
        if done + 1 < orders.len() && over_budget() {
            batch.more = true;
            break;
        }
    }
    Ok(batch)
}

/// What a full prune with these cutoffs would remove now.
pub(super) fn count_prunable(conn: &Connection, cut: Cutoffs) -> StoreResult<PruneCounts> {
    let count = |sql: &str, values: &[&dyn rusqlite::ToSql]| -> StoreResult<u64> {
        let n: i64 = conn
            .prepare_cached(sql)?
            .query_row(values, |row| row.get(0))?;
        Ok(n as u64)
    };
    Ok(PruneCounts {
        delivered: count(
            "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND finished_at < ?1",
            &[&cut.delivered],
        )?,
        dead: count(
            "SELECT count(*) FROM deliveries WHERE state = 'dead' AND finished_at < ?1",
            &[&cut.dead],
        )?,
        orders: count(
            "SELECT count(*) FROM orders o
             WHERE o.changed_at < ?1
               AND NOT EXISTS (
                   SELECT 1 FROM queue q LEFT JOIN deliveries d ON d.id = q.delivery_id
                   WHERE q.order_id = o.id AND q.state <> 'stopped'
                     AND NOT (q.state = 'finished'
                              AND (d.id IS NULL
                                   OR (d.state = 'delivered' AND d.finished_at < ?2)
                                   OR (d.state = 'dead' AND d.finished_at < ?3))))",
            &[&cut.orders, &cut.delivered, &cut.dead],
        )?,
        tombstones: count(
            "SELECT count(*) FROM order_tombstones WHERE pruned_at < ?1",
            &[&cut.orders],
        )?,
        idempotency_keys: count(
            "SELECT count(*) FROM idempotency_keys WHERE created_at < ?1",
            &[&cut.idempotency_keys],
        )?,
    })
}

/// Gives up to `pages` free pages back to the file system, [`RECLAIM_SLICE`] at a time
/// while the write is within [`PRUNE_WRITE_BUDGET`]; returns how many free pages
/// remain. A database created before auto-vacuum was on (see `hookit db vacuum`)
/// keeps its free pages for reuse instead; that is not an error.
pub(super) fn reclaim(tx: &Transaction<'_>, pages: u32) -> StoreResult<u64> {
    let started = Instant::now();
    let free = || -> StoreResult<u64> {
        let free: i64 = tx.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
        Ok(free as u64)
    };
    let mode: i64 = tx.query_row("PRAGMA auto_vacuum", [], |row| row.get(0))?;
    let mut left = free()?;
    if mode != INCREMENTAL {
        return Ok(left);
    }
    let mut given = 0;
    while left > 0 && given < pages {
        let slice = RECLAIM_SLICE.min(pages - given);
        tx.execute_batch(&format!("PRAGMA incremental_vacuum({slice})"))?;
        given += slice;
        left = free()?;
        if started.elapsed() >= PRUNE_WRITE_BUDGET {
            break;
        }
    }
    tracing::debug!(
        given,
        free_left = left,
        took_us = started.elapsed().as_micros() as u64,
        "incremental vacuum ran"
    );
    Ok(left)
}

/// Pages one `incremental_vacuum` statement gives back (512 KiB at 4 KiB pages): each
/// moves pages from the end of the file into free ones, updating their parents, so a
/// slice costs a few milliseconds at most.
const RECLAIM_SLICE: u32 = 128;

/// `PRAGMA auto_vacuum`'s value for incremental.
pub(super) const INCREMENTAL: i64 = 2;

/// Rewrites the whole database with incremental auto-vacuum on (`hookit db vacuum`):
/// needed once for a database created before hookit turned it on. Run with `serve`
/// stopped; it needs free disk of about the database's size, twice at most.
pub fn vacuum_file(path: &std::path::Path) -> StoreResult<VacuumReport> {
    let conn = Connection::open(path)
        .map_err(|err| StoreError::Backend(format!("cannot open {}: {err}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let size = |conn: &Connection| -> StoreResult<u64> {
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        Ok((pages * page_size) as u64)
    };
    let before = size(&conn)?;
    let started = std::time::Instant::now();
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |row| row.get(0))?;
    Ok(VacuumReport {
        bytes_before: before,
        bytes_after: size(&conn)?,
        took: started.elapsed(),
        incremental: mode == INCREMENTAL,
    })
}

/// What `hookit db vacuum` did.
#[derive(Debug, Clone, Copy)]
pub struct VacuumReport {
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub took: std::time::Duration,
    /// Whether the database now reclaims its free pages incrementally.
    pub incremental: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated database holding `orders` orders, each with one change, all last
    /// changed at 0.
    fn orders_db(orders: i64) -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        super::super::migrate::run(&mut conn).expect("migrate");
        for id in 1..=orders {
            conn.execute(
                "INSERT INTO orders (id, brand_id, branch_id, status, version, changed_at)
                 VALUES (?1, 1, 1, 0, 1, 0)",
                [id],
            )
            .expect("order");
            conn.execute(
                "INSERT INTO order_changes
                    (order_id, version, event_type, brand_id, branch_id, record, ingested_at)
                 VALUES (?1, 1, 'order.created', 1, 1, x'00', 0)",
                [id],
            )
            .expect("change");
        }
        conn
    }

    #[test]
    fn a_batch_over_its_budget_stops_after_the_record_at_hand_and_says_more() {
        let mut conn = orders_db(3);
        let tx = conn.transaction().expect("begin");
        let over = prune_orders(&tx, 10, 20, &|| true).expect("prune");
        assert_eq!(
            (over.records, over.rows, over.more),
            (1, 2, true),
            "one order with its change, and more to come"
        );
        let rest = prune_orders(&tx, 10, 20, &|| false).expect("prune");
        assert_eq!(
            (rest.records, rest.more),
            (2, false),
            "the rest, and no more"
        );
        let tombstones: i64 = tx
            .query_row("SELECT count(*) FROM order_tombstones", [], |row| {
                row.get(0)
            })
            .expect("count");
        assert_eq!(tombstones, 3);
    }

    #[test]
    fn a_full_batch_says_more_even_within_its_budget() {
        let mut conn = orders_db(PRUNE_BATCH as i64);
        let tx = conn.transaction().expect("begin");
        let full = prune_orders(&tx, 10, 20, &|| false).expect("prune");
        assert_eq!((full.records, full.more), (PRUNE_BATCH as u64, true));
        let none = prune_orders(&tx, 10, 20, &|| false).expect("prune");
        assert_eq!((none.records, none.more), (0, false));
    }
}
