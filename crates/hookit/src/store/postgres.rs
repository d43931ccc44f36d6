//! The PostgreSQL backend: several `hookit serve` processes share one database.
//!
//! Every operation runs in its own transaction on a pooled connection (sqlx, with
//! runtime-checked queries). Where SQLite is correct because it has one writer, this
//! backend is correct with many:
//!
//! - forming and claiming read their candidates `FOR UPDATE SKIP LOCKED`, so two
//!   processes never batch the same change nor lease the same delivery;
//! - outcomes and releases act only where the delivery's lease token still matches;
//! - the changes of one order are serialized by a transaction-scoped advisory lock on
//!   the order id (it covers orders that do not exist yet), taken in ascending order
//!   so that bulk pushes cannot deadlock each other;
//! - an idempotency key is serialized the same way, so a concurrent duplicate waits
//!   for the first request and then answers with its stored answer;
//! - mapping upserts meet on the tuple's unique index (`ON CONFLICT`).
//!
//! A serialization failure or deadlock rolls the transaction back and runs it again
//! (a few times); so does a connection lost before the commit was sent. A database
//! that cannot be reached, a lost connection and a pool that timed out are
//! [`StoreError::Unavailable`], which the APIs answer with 503 and `Retry-After`.
//!
//! Writes that create work send `NOTIFY` on a channel named after the schema; an idle
//! dispatcher waits on it ([`Store::work_signal`]) instead of polling. The frequent
//! ones (ingest, promoted changes) send it after their commit, coalesced, from
//! [`wakeup::Notifier`]; the rare ones within their transaction.

/// Runs `$body` (an async expression over `$conn: &mut PgConnection`) in a
/// transaction of `$store`, running it again from the start on a fresh transaction
/// after a serialization failure, a deadlock or a connection lost before the commit.
/// The body must therefore be safe to repeat, which it is when it only talks to the
/// database.
macro_rules! in_transaction {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let store: &PostgresStore = $store;
        let mut tries = 0u32;
        loop {
            tries += 1;
            store.inner.transactions.fetch_add(1, Ordering::Relaxed);
            let result: PgResult<_> = async {
                let mut tx = store.inner.pool.begin().await?;
                let value: PgResult<_> = {
                    let $conn: &mut PgConnection = &mut tx;
                    $body.await
                };
                match value {
                    Ok(value) => {
                        tx.commit().await.map_err(PgFailure::at_commit)?;
                        Ok(value)
                    }
                    Err(failure) => {
                        // Roll back now: a dropped transaction is rolled back only when
                        // its connection is next used, holding its locks until then.
                        let _ = tx.rollback().await;
                        Err(failure)
                    }
                }
            }
            .await;
            match result {
                Ok(value) => break Ok(value),
                Err(failure) if store.may_retry(&failure, tries).await => continue,
                Err(failure) => break Err(failure.into_store()),
            }
        }
    }};
}

mod deliveries;
mod dispatch;
mod endpoints;
mod failure;
mod ingest;
mod ingest_batch;
mod migrate;
mod operators;
mod partner_api;
mod partner_views;
mod partners;
mod retention;
mod retry_now;
mod wakeup;

use super::*;
use failure::{PgFailure, PgResult};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How to reach the database and how to use it.
#[derive(Clone)]
pub struct PostgresSettings {
    /// `postgres://user:password@host:port/database?sslmode=…`; never logged.
    pub url: String,
    /// The most connections this process holds.
    pub pool_size: u32,
    /// The longest one statement may run before the database cancels it.
    pub statement_timeout: Duration,
    /// The longest to wait for a connection (new, or free in the pool).
    pub connect_timeout: Duration,
    /// A schema to create if needed and keep every table in (the `search_path` of
    /// every connection); `None` uses the database's default (`public`).
    pub schema: Option<String>,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL can hold a password.
        f.debug_struct("PostgresSettings")
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The PostgreSQL store. Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    schema: String,
    /// The NOTIFY channel of this schema.
    channel: String,
    /// Transactions begun by this store, for the idle-load measurement.
    transactions: AtomicU64,
    wakeup: wakeup::Wakeup,
    notifier: wakeup::Notifier,
    /// The server's autovacuum is off, so the pruner vacuums what it pruned and what
    /// the queue churns ([`retention::vacuum`]); with it on, the server does.
    vacuums_itself: bool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

/// How many times a transaction that hit a serialization failure, a deadlock or a
/// connection lost before its commit runs again.
const TRANSACTION_RETRIES: u32 = 5;

/// Whether `schema` is a plain lowercase identifier, safe to name unquoted.
fn valid_schema(schema: &str) -> bool {
    let mut bytes = schema.bytes();
    schema.len() <= 63
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn connect_options(settings: &PostgresSettings, schema: &str) -> StoreResult<PgConnectOptions> {
    let options = PgConnectOptions::from_str(&settings.url).map_err(|err| {
        StoreError::Backend(format!(
            "the database URL is not a valid postgres:// URL ({err}); expected \
             postgres://user:password@host:port/database"
        ))
    })?;
    let timeout = settings.statement_timeout.as_millis().to_string();
    Ok(options
        .options([
            ("search_path", schema),
            ("statement_timeout", timeout.as_str()),
        ])
        .application_name("hookit")
        .disable_statement_logging())
}

impl PostgresStore {
    /// Connects, creates `settings.schema` if given, and brings the schema up to date
    /// (under an advisory lock, so several processes may start at once).
    pub async fn open(settings: &PostgresSettings) -> StoreResult<PostgresStore> {
        let schema = settings.schema.clone().unwrap_or_else(|| "public".into());
        if !valid_schema(&schema) {
            return Err(StoreError::Backend(format!(
                "schema name {schema:?} is not usable: use lowercase letters, digits and \
                 underscores, starting with a letter, at most 63 characters"
            )));
        }
        let options = connect_options(settings, &schema)?;
        let mut conn = tokio::time::timeout(settings.connect_timeout, options.connect())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "could not connect to PostgreSQL within {:?}; is it running and reachable?",
                    settings.connect_timeout
                ))
            })?
            .map_err(|err| PgFailure::from(err).into_store())?;
        migrate::run(&mut conn, &schema)
            .await
            .map_err(PgFailure::into_store)?;
        let autovacuum: bool = sqlx::query_scalar("SELECT current_setting('autovacuum') = 'on'")
            .fetch_one(&mut conn)
            .await
            .map_err(|err| PgFailure::from(err).into_store())?;
        if !autovacuum {
            tracing::warn!(
                "PostgreSQL's autovacuum is off: without it, space freed by pruning and by \
                 the queue's updates is never reused and the database grows without bound; \
                 hookit vacuums its busiest tables after each prune that removed something. \
                 Turn autovacuum on (the default) for the server to do it instead"
            );
        }
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size.max(1))
            .acquire_timeout(settings.connect_timeout)
            .connect_lazy_with(options.clone());
        let channel = format!("hookit_work_{schema}");
        let wakeup = wakeup::Wakeup::new(options, channel.clone());
        let notifier = wakeup::Notifier::new(pool.clone(), channel.clone());
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                schema,
                channel,
                transactions: AtomicU64::new(0),
                wakeup,
                notifier,
                vacuums_itself: !autovacuum,
            }),
        })
    }

    /// Transactions this store has begun (each a round trip or more): what an idle
    /// process costs the database.
    pub fn transactions(&self) -> u64 {
        self.inner.transactions.load(Ordering::Relaxed)
    }

    /// The schema this store keeps its tables in.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// Counts a transaction begun, and says whether it may run again after `failure`
    /// on try number `tries` (waiting a little first).
    async fn may_retry(&self, failure: &PgFailure, tries: u32) -> bool {
        if !failure.worth_retrying() || tries > TRANSACTION_RETRIES {
            return false;
        }
        tracing::debug!(error = %failure, tries, "retrying a store transaction");
        tokio::time::sleep(Duration::from_millis(5 * u64::from(tries))).await;
        true
    }

    /// Sends a NOTIFY on this schema's channel when the transaction commits.
    async fn notify_work(&self, conn: &mut PgConnection) -> PgResult<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(&self.inner.channel)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Drops `schema` and everything in it: clean-up for tests, `bench` and `demo`.
pub async fn drop_schema(url: &str, schema: &str) -> StoreResult<()> {
    if !valid_schema(schema) || schema == "public" {
        return Err(StoreError::Backend(format!(
            "refusing to drop schema {schema:?}: only a schema hookit named itself can be dropped"
        )));
    }
    let options = PgConnectOptions::from_str(url)
        .map_err(|err| StoreError::Backend(format!("the database URL is not valid: {err}")))?;
    let mut conn = options
        .connect()
        .await
        .map_err(|err| PgFailure::from(err).into_store())?;
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .map_err(|err| PgFailure::from(err).into_store())?;
    let _ = conn.close().await;
    Ok(())
}

mod store_impl;

/// Opens the PostgreSQL store: [`PostgresStore::open`].
pub async fn open(settings: &PostgresSettings) -> StoreResult<PostgresStore> {
    PostgresStore::open(settings).await
}
