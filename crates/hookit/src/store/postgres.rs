//! Placeholder of the PostgreSQL store's interface, as agreed with its author, so that
//! start-up, settings and tests can be written against it before it lands. Opening
//! always fails with a clear message; the real backend replaces this file.

use std::time::Duration;

use super::{StoreError, StoreResult};

/// Connection settings of a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: String,
    pub pool_size: u32,
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
    pub schema: Option<String>,
}

/// Stands in for the PostgreSQL store until it lands.
pub type PostgresStore = super::sqlite::SqliteStore;

/// Always fails: this build has no PostgreSQL store yet.
pub async fn open(_settings: &PostgresSettings) -> StoreResult<PostgresStore> {
    Err(StoreError::Unavailable(
        "this build of hookit has no PostgreSQL store yet; leave HOOKIT_DATABASE_URL unset \
         to use the embedded SQLite store"
            .into(),
    ))
}

/// Drops a schema and everything in it.
pub async fn drop_schema(_url: &str, _schema: &str) -> StoreResult<()> {
    Ok(())
}
