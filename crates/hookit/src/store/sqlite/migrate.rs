//! Schema migrations, embedded in the binary and run at start.
//!
//! The schema version lives in SQLite's `user_version`. Each migration runs in its own
//! transaction together with the version bump, so a crash mid-migration leaves the
//! database at the previous version.

use crate::store::{StoreError, StoreResult};
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    include_str!("0001_initial.sql"),
    include_str!("0002_operators_and_audit.sql"),
    include_str!("0003_queue_successors.sql"),
    include_str!("0005_freshness.sql"),
];

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
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}
