//! The store behavioural suite on PostgreSQL, plus checks that drive two store
//! instances on one schema at once (`store_suite/concurrent.rs`).
//!
//! Reads `HOOKIT_TEST_DATABASE_URL` (CI sets it to the machine's server); without it
//! every test here says that the PostgreSQL half was skipped and passes. Each test
//! gets a schema of its own, dropped when it ends, so tests run in parallel.

mod store_suite;

use hookit::ids::IdKind;
use hookit::store::Store;
use hookit::store::postgres::{PostgresSettings, PostgresStore, drop_schema};
use std::sync::Arc;
use std::time::Duration;

/// Drops the test's schema when the test ends, however it ends.
pub struct SchemaGuard {
    url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: clean up
        // from a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(drop_schema(&url, &schema))
        });
        if let Ok(Err(err)) = cleanup.join() {
            eprintln!("could not drop test schema {}: {err}", self.schema);
        }
    }
}

/// The test database's URL, or `None` (said aloud) when the PostgreSQL half is skipped.
pub fn database_url() -> Option<String> {
    match std::env::var("HOOKIT_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "SKIPPED: the PostgreSQL half of the store suite; set HOOKIT_TEST_DATABASE_URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
            );
            None
        }
    }
}

pub fn settings(url: &str, schema: &str) -> PostgresSettings {
    PostgresSettings {
        url: url.to_owned(),
        pool_size: 8,
        statement_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
        schema: Some(schema.to_owned()),
    }
}

/// A fresh schema and a store on it.
pub async fn open_schema() -> Option<(SchemaGuard, PostgresStore)> {
    let url = database_url()?;
    let schema = format!("hookit_t_{}", &IdKind::Request.generate()[4..]);
    let guard = SchemaGuard {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = PostgresStore::open(&settings(&url, &schema))
        .await
        .expect("open the PostgreSQL store");
    Some((guard, store))
}

async fn open_postgres() -> Option<(SchemaGuard, Arc<dyn Store>)> {
    let (guard, store) = open_schema().await?;
    Some((guard, Arc::new(store)))
}

store_suite!(optional open_postgres());

/// Two stores (as two processes would have) on one fresh schema.
async fn open_two() -> Option<(SchemaGuard, PostgresStore, PostgresStore)> {
    let (guard, first) = open_schema().await?;
    let second = PostgresStore::open(&settings(&guard.url, &guard.schema))
        .await
        .expect("open the second store");
    Some((guard, first, second))
}

macro_rules! concurrent_checks {
    ($($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((_guard, a, b)) = open_two().await else {
                    return;
                };
                store_suite::concurrent::$name(&a, &b).await;
            }
        )*
    };
}

concurrent_checks!(
    a_ready_change_is_formed_once_by_concurrent_batchers,
    a_due_delivery_is_leased_by_one_claimer,
    concurrent_changes_of_one_order_get_consecutive_versions,
    one_idempotency_key_used_concurrently_writes_once,
    concurrent_mapping_upserts_leave_one_mapping,
    retry_now_racing_a_claim_never_moves_a_leased_delivery
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuits_probe_is_claimed_by_one_process() {
    let Some((_guard, a, b)) = open_two().await else {
        return;
    };
    store_suite::an_open_circuits_probe_is_claimed_by_one_process(&a, &b).await;
}

/// The checks of the held mark (`store_suite/endpoint_health.rs`), counting held
/// deliveries on a connection of their own to the test's schema.
macro_rules! held_checks {
    ($($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((guard, store)) = open_schema().await else {
                    return;
                };
                let (url, schema) = (guard.url.clone(), guard.schema.clone());
                let held = move || -> store_suite::HeldFuture {
                    let (url, schema) = (url.clone(), schema.clone());
                    Box::pin(async move {
                        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                            .await
                            .expect("connect");
                        let held: i64 = sqlx::query_scalar(&format!(
                            "SELECT count(*) FROM {schema}.deliveries WHERE held"
                        ))
                        .fetch_one(&mut conn)
                        .await
                        .expect("count held");
                        held as u64
                    })
                };
                store_suite::$name(&store, &held).await;
            }
        )*
    };
}

held_checks!(
    deliveries_waiting_on_a_disabled_endpoint_are_held_and_released_in_order,
    a_new_url_releases_held_deliveries_unless_it_is_disabled_too
);

/// Where the server's autovacuum is off (as on CI's server), the store vacuums the
/// tables pruning and the queue churn after a prune; where it is on, it leaves them to
/// the server. `last_vacuum` records manual vacuums only, never autovacuum's.
#[tokio::test]
async fn the_store_vacuums_after_pruning_only_where_autovacuum_is_off() {
    let Some((guard, store)) = open_schema().await else {
        return;
    };
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&guard.url)
        .await
        .expect("connect");
    let autovacuum: bool = sqlx::query_scalar("SELECT current_setting('autovacuum') = 'on'")
        .fetch_one(&mut conn)
        .await
        .expect("autovacuum setting");
    let left = store.reclaim_space(1024).await.expect("reclaim");
    assert_eq!(left, 0, "PostgreSQL has no free pages to hand back");
    let vacuumed: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_stat_user_tables
         WHERE schemaname = $1 AND last_vacuum IS NOT NULL ORDER BY relname",
    )
    .bind(&guard.schema)
    .fetch_all(&mut conn)
    .await
    .expect("vacuum times");
    if autovacuum {
        assert!(vacuumed.is_empty(), "{vacuumed:?}");
    } else {
        assert_eq!(
            vacuumed,
            vec![
                "attempts",
                "deliveries",
                "endpoints",
                "idempotency_keys",
                "order_changes",
                "order_tombstones",
                "orders",
                "queue"
            ]
        );
    }
}
