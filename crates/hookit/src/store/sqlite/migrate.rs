//! Schema migrations, embedded in the binary and run at start.
//!
//! The schema version lives in SQLite's `user_version`. Each migration runs in its own
//! transaction together with the version bump (and its backfill, where it has one), so
//! a crash mid-migration leaves the database at the previous version.

use crate::store::{StoreError, StoreResult, host_of};
use rusqlite::{Connection, Transaction, params};

const MIGRATIONS: &[&str] = &[
    include_str!("0001_initial.sql"),
    include_str!("0002_operators_and_audit.sql"),
    include_str!("0003_queue_successors.sql"),
    include_str!("0004_leases_and_hosts.sql"),
    include_str!("0005_freshness.sql"),
    include_str!("0006_webhook_secret_rotation.sql"),
    include_str!("0007_test_deliveries.sql"),
    include_str!("0008_settings.sql"),
    include_str!("0009_retention.sql"),
    include_str!("0010_endpoint_health.sql"),
    include_str!("0011_records_stored_once.sql"),
    include_str!("0012_held_deliveries.sql"),
    include_str!("0013_tombstones_expire.sql"),
];

/// Work a migration needs that SQL alone cannot do, by the version it brings the
/// schema to; it runs right after that migration's SQL, in the same transaction.
const BACKFILLS: &[(usize, Backfill)] = &[(4, backfill_mapping_hosts)];

type Backfill = fn(&Transaction<'_>) -> StoreResult<()>;

/// Applies every migration newer than the database's version.
pub(super) fn run(conn: &mut Connection) -> StoreResult<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database schema is version {current}, newer than this hookit knows ({}); \
             run a newer hookit or restore a matching backup",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = index + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        for (_, backfill) in BACKFILLS.iter().filter(|(at, _)| *at == version) {
            backfill(&tx)?;
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// Fills in the host of every mapping stored before mappings kept one.
fn backfill_mapping_hosts(tx: &Transaction<'_>) -> StoreResult<()> {
    let mappings = tx
        .prepare("SELECT id, url FROM mappings")?
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut update = tx.prepare("UPDATE mappings SET host = ?1 WHERE id = ?2")?;
    for (id, url) in mappings {
        update.execute(params![host_of(&url), id])?;
    }
    Ok(())
}
