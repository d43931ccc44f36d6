//! Embedded schema migrations, run at start under an advisory lock so that several
//! processes starting at once apply each migration exactly once.
//!
//! Each migration runs in its own transaction together with the row that records it
//! in `hookit_migrations`. A process that finds the database at a version newer than
//! it knows refuses to start rather than write into a schema it does not understand.

use super::failure::PgResult;
use crate::store::StoreError;
use sqlx::PgConnection;

/// The migrations, in order; version `n` is the `n`th.
const MIGRATIONS: &[&str] = &[
    include_str!("0001_initial.sql"),
    include_str!("0002_secret_rotation_and_test_deliveries.sql"),
    include_str!("0003_retention.sql"),
    include_str!("0004_endpoint_health.sql"),
    include_str!("0005_records_stored_once.sql"),
    include_str!("0006_held_deliveries.sql"),
    include_str!("0007_compact_queue.sql"),
    include_str!("0008_tombstones_expire.sql"),
];

/// The first key of the advisory lock that serializes migrations; the second is a
/// hash of the schema name, so that separate schemas migrate independently.
const MIGRATION_LOCK_CLASS: i32 = 0x686b_0001;

/// The schema version this build brings a database to.
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

pub(super) async fn run(conn: &mut PgConnection, schema: &str) -> PgResult<()> {
    sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
        .bind(MIGRATION_LOCK_CLASS)
        .bind(schema)
        .execute(&mut *conn)
        .await?;
    let result = migrate_locked(conn, schema).await;
    // Unlocking on a broken connection fails; the lock went with the session then.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
        .bind(MIGRATION_LOCK_CLASS)
        .bind(schema)
        .execute(&mut *conn)
        .await;
    result
}

async fn migrate_locked(conn: &mut PgConnection, schema: &str) -> PgResult<()> {
    // The name was checked to be a plain identifier by the caller.
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.hookit_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );"
    ))
    .execute(&mut *conn)
    .await?;
    let current: i64 = sqlx::query_scalar(&format!(
        "SELECT coalesce(max(version), 0) FROM {schema}.hookit_migrations"
    ))
    .fetch_one(&mut *conn)
    .await?;
    if current > LATEST {
        return Err(StoreError::Backend(format!(
            "the database schema {schema} is at version {current}, newer than this hookit \
             knows ({LATEST}); run the newer hookit, or point this one at another schema"
        ))
        .into());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(&format!("SET LOCAL search_path TO {schema}"))
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query(&format!(
            "INSERT INTO {schema}.hookit_migrations (version) VALUES ($1)"
        ))
        .bind(version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(schema, version, "applied PostgreSQL migration");
    }
    Ok(())
}
