//! [`SqliteDedupe`]: a persistent de-dupe set in a SQLite file.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};

use super::{Dedupe, DedupeError};

/// Handled event ids with the time they were recorded, in a SQLite table that survives restarts.
///
/// Opens the database in WAL mode with `synchronous=FULL`, so a recorded id survives a
/// crash. Calls block on disk I/O: from async code, run them on a blocking thread
/// (e.g. `tokio::task::spawn_blocking`). Call [`SqliteDedupe::prune_older_than`] now
/// and then; klikit stops retrying after about two days, so a week is ample.
#[derive(Debug)]
pub struct SqliteDedupe {
    connection: Mutex<Connection>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS klikit_webhook_seen_events (
        event_id TEXT PRIMARY KEY NOT NULL,
        first_seen_unix_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS klikit_webhook_seen_events_by_time
        ON klikit_webhook_seen_events (first_seen_unix_ms);
";

fn unix_ms(time: SystemTime) -> Result<i64, DedupeError> {
    let since_epoch = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| DedupeError::ClockBeforeEpoch)?;
    Ok(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}

impl SqliteDedupe {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteDedupe, DedupeError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.execute_batch(SCHEMA)?;
        Ok(SqliteDedupe {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic cannot leave a half-written row: SQLite statements are atomic.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets ids first seen more than `age` ago; returns how many were forgotten.
    pub fn prune_older_than(&self, age: Duration) -> Result<usize, DedupeError> {
        let cutoff = SystemTime::now().checked_sub(age).map_or(Ok(0), unix_ms)?;
        let removed = self.connection().execute(
            "DELETE FROM klikit_webhook_seen_events WHERE first_seen_unix_ms < ?1",
            params![cutoff],
        )?;
        Ok(removed)
    }
}

impl Dedupe for SqliteDedupe {
    fn already_handled(&self, event_id: &str) -> Result<bool, DedupeError> {
        let found = self
            .connection()
            .prepare_cached("SELECT 1 FROM klikit_webhook_seen_events WHERE event_id = ?1")?
            .exists(params![event_id])?;
        Ok(found)
    }

    fn record_handled(&self, event_id: &str) -> Result<(), DedupeError> {
        let now = unix_ms(SystemTime::now())?;
        self.connection().execute(
            "INSERT INTO klikit_webhook_seen_events (event_id, first_seen_unix_ms)
             VALUES (?1, ?2) ON CONFLICT (event_id) DO NOTHING",
            params![event_id, now],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("seen.db");
        {
            let dedupe = SqliteDedupe::open(&path).expect("open");
            dedupe.record_handled("evt_1").expect("insert");
            assert!(dedupe.already_handled("evt_1").expect("lookup"));
        }
        let reopened = SqliteDedupe::open(&path).expect("reopen");
        assert!(reopened.already_handled("evt_1").expect("lookup"));
        assert!(!reopened.already_handled("evt_2").expect("lookup"));
    }

    #[test]
    fn prune_forgets_old_ids() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dedupe = SqliteDedupe::open(dir.path().join("seen.db")).expect("open");
        dedupe.record_handled("old").expect("insert");
        assert_eq!(
            dedupe
                .prune_older_than(Duration::from_secs(3600))
                .expect("prune"),
            0
        );
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(dedupe.prune_older_than(Duration::ZERO).expect("prune"), 1);
        assert!(!dedupe.already_handled("old").expect("lookup"));
    }
}
