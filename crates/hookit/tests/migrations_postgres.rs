//! PostgreSQL schema migrations on a database made by an earlier hookit: a schema left
//! at version 1 (`0001_initial.sql`, with a partner and a delivery in it) is brought to
//! the latest version when a store opens it, and what it held reads as before, with
//! the defaults of the columns added since.
//!
//! Reads `HOOKIT_TEST_DATABASE_URL`; without it the test says it was skipped and
//! passes. It works in a schema of its own, dropped when it ends.

use hookit::ids::IdKind;
use hookit::store::postgres::{PostgresSettings, PostgresStore, drop_schema};
use hookit::store::*;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

const VERSION_1: &str = include_str!("../src/store/postgres/0001_initial.sql");

/// Drops the schema when the test ends, however it ends.
struct SchemaGuard {
    url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
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

/// A schema as hookit's first PostgreSQL version left it, with one partner (no
/// signature scheme, no grace window) and one dead delivery of it.
async fn schema_at_version_1(conn: &mut sqlx::PgConnection, schema: &str) {
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.hookit_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );
         INSERT INTO {schema}.hookit_migrations (version) VALUES (1);
         SET search_path TO {schema};"
    ))
    .execute(&mut *conn)
    .await
    .expect("schema and migration table");
    sqlx::raw_sql(VERSION_1)
        .execute(&mut *conn)
        .await
        .expect("version 1 of the schema");
    sqlx::raw_sql(
        "INSERT INTO partners (id, name, partner_key, secret_hash, webhook_secret_enc, enabled,
                               created_at, updated_at)
         VALUES ('ptn_old', 'Old', 'pk_old', 'sha256:00', '\\x01'::bytea, TRUE, 1000, 1000);
         INSERT INTO deliveries (id, partner_id, mapping_id, event_type, brand_id, branch_id,
                                 order_ids, order_count, body, state, dead_reason, attempts,
                                 next_attempt_at, first_ingested_at, created_at, finished_at)
         VALUES ('evt_old', 'ptn_old', 'map_old', 'klikit.order.created.v2', 1, 2, '[7]', 1,
                 '{}'::bytea, 'dead', 'retries_exhausted', 3, 1000, 1000, 1000, 2000);",
    )
    .execute(&mut *conn)
    .await
    .expect("rows of version 1");
}

#[tokio::test]
async fn a_version_1_schema_is_migrated_and_keeps_its_rows() {
    let Ok(url) = std::env::var("HOOKIT_TEST_DATABASE_URL") else {
        eprintln!(
            "SKIPPED: PostgreSQL migrations; set HOOKIT_TEST_DATABASE_URL \
             (e.g. postgres://postgres@127.0.0.1:5432/test) to run them"
        );
        return;
    };
    let schema = format!("hookit_mig_{}", &IdKind::Request.generate()[4..]);
    let _guard = SchemaGuard {
        url: url.clone(),
        schema: schema.clone(),
    };
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("database URL")
        .connect()
        .await
        .expect("connect");
    schema_at_version_1(&mut conn, &schema).await;

    let settings = PostgresSettings {
        url: url.clone(),
        pool_size: 2,
        statement_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
        schema: Some(schema.clone()),
    };
    let store = PostgresStore::open(&settings)
        .await
        .expect("opens and migrates");
    let versions: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM {schema}.hookit_migrations ORDER BY version"
    ))
    .fetch_all(&mut conn)
    .await
    .expect("versions");
    assert_eq!(
        versions,
        vec![1, 2, 3, 4, 5],
        "each later version applied once, in order"
    );
    // Endpoint health (the endpoints table) starts empty: every mapped URL is healthy.
    let endpoints = store
        .list_endpoints(Some("ptn_old"))
        .await
        .expect("endpoints");
    assert!(
        endpoints
            .iter()
            .all(|e| e.state == hookit::store::EndpointState::Healthy),
        "{endpoints:?}"
    );

    let partner = store.get_partner("ptn_old").await.expect("the old partner");
    assert_eq!(partner.signature_scheme, SignatureScheme::Klikit);
    assert_eq!(partner.webhook_secret_switch_at, None);
    // The old delivery is no test delivery: it is still listed and replayable.
    let page = store
        .list_deliveries(DeliveryFilter {
            partner_id: Some("ptn_old".into()),
            limit: 10,
            ..DeliveryFilter::default()
        })
        .await
        .expect("list");
    let listed: Vec<&str> = page
        .deliveries
        .iter()
        .map(|d| d.event_id.as_str())
        .collect();
    assert_eq!(listed, vec!["evt_old"]);

    // Opening again finds nothing left to apply.
    drop(store);
    PostgresStore::open(&settings).await.expect("opens again");
    let count: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.hookit_migrations"))
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!(count, 5);
    let _ = conn.close().await;
}
