//! PostgreSQL schema migrations on a database made by an earlier hookit: a schema left
//! at version 1 (`0001_initial.sql`, with a partner and a delivery in it) is brought to
//! the latest version when a store opens it, and what it held reads as before, with
//! the defaults of the columns added since.
//!
//! Reads `HOOKIT_TEST_DATABASE_URL`; without it the test says it was skipped and
//! passes. It works in a schema of its own, dropped when it ends.

#[allow(unused_imports)] // the suite's checks are not run here, only its helpers
mod store_suite;

use hookit::ids::IdKind;
use hookit::store::postgres::{PostgresSettings, PostgresStore, drop_schema};
use hookit::store::*;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

const VERSION_1: &str = include_str!("../src/store/postgres/0001_initial.sql");
/// Versions 2 to 4, applied over version 1 to make a schema as hookit left it before
/// records were stored once.
const VERSIONS_2_TO_4: [&str; 3] = [
    include_str!("../src/store/postgres/0002_secret_rotation_and_test_deliveries.sql"),
    include_str!("../src/store/postgres/0003_retention.sql"),
    include_str!("../src/store/postgres/0004_endpoint_health.sql"),
];

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
        vec![1, 2, 3, 4, 5, 6, 7, 8],
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
    assert_eq!(count, 8);
    let _ = conn.close().await;
}

/// Order 7's record at `version`, as a store before version 5 kept it.
fn record(version: i64) -> String {
    format!(
        r#"{{"id":7,"brands":[{{"id":1}}],"branch_id":2,"status":{version},"version":{version}}}"#
    )
}

#[tokio::test]
async fn a_version_4_schema_with_work_in_flight_keeps_its_bytes_and_order() {
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
    for (index, sql) in VERSIONS_2_TO_4.iter().enumerate() {
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .expect("upgrade");
        sqlx::query(&format!(
            "INSERT INTO {schema}.hookit_migrations (version) VALUES ($1)"
        ))
        .bind(index as i64 + 2)
        .execute(&mut conn)
        .await
        .expect("version row");
    }
    // Order 7 at version 2: its first change in a pending delivery whose body was
    // stored, its second waiting behind it.
    let old_body = format!(r#"{{"brand_id":1,"branch_id":2,"orders":[{}]}}"#, record(1));
    sqlx::query(
        "INSERT INTO mappings (id, partner_id, brand_id, branch_id, event_type, url, host,
                               created_at, updated_at)
         VALUES ('map_old2', 'ptn_old', 1, NULL, 'klikit.order.status.updated',
                 'https://old.example/', 'old.example:443', 1000, 1000)",
    )
    .execute(&mut conn)
    .await
    .expect("mapping");
    sqlx::query(
        "INSERT INTO orders (id, brand_id, branch_id, status, first_ingested_at, version, record,
                             changed_at)
         VALUES (7, 1, 2, 2, 1000, 2, $1, 1001)",
    )
    .bind(record(2).into_bytes())
    .execute(&mut conn)
    .await
    .expect("order");
    for version in [1_i64, 2] {
        sqlx::query(
            "INSERT INTO order_changes (id, order_id, version, event_type, brand_id, branch_id,
                                        record, ingested_at)
             VALUES ($1, 7, $2, 'klikit.order.status.updated', 1, 2, $3, 1000 + $2)",
        )
        .bind(format!("chg_7_{version}"))
        .bind(version)
        .bind(record(version).into_bytes())
        .execute(&mut conn)
        .await
        .expect("change");
    }
    sqlx::query(
        "INSERT INTO deliveries (id, partner_id, mapping_id, event_type, brand_id, branch_id,
                                 order_ids, order_count, body, state, next_attempt_at,
                                 first_ingested_at, created_at)
         VALUES ('evt_old_pending', 'ptn_old', 'map_old2', 'klikit.order.status.updated', 1, 2,
                 '[7]', 1, $1, 'pending', 1001, 1001, 1001);
         ",
    )
    .bind(old_body.clone().into_bytes())
    .execute(&mut conn)
    .await
    .expect("delivery");
    sqlx::raw_sql(
        "INSERT INTO queue (id, partner_id, mapping_id, order_id, order_version, change_id, state,
                            delivery_id, queued_at, has_successor)
         VALUES ('que_7_1', 'ptn_old', 'map_old2', 7, 1, 'chg_7_1', 'batched',
                 'evt_old_pending', 1001, TRUE),
                ('que_7_2', 'ptn_old', 'map_old2', 7, 2, 'chg_7_2', 'waiting', NULL, 1002, FALSE)",
    )
    .execute(&mut conn)
    .await
    .expect("queue");

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
    // The order's latest record now comes from its latest change.
    let order = store.get_order(7).await.expect("get").expect("order 7");
    assert_eq!(order.version, 2);
    assert_eq!(order.record, record(2).into_bytes());
    // The delivery formed before the upgrade goes out with the bytes stored with it.
    let claimed = store
        .claim_due(store_suite::claim_request(5_000, 10, vec![]))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event_id, "evt_old_pending");
    assert_eq!(claimed[0].body, old_body.into_bytes());
    store
        .record_outcomes(vec![store_suite::outcome(
            &claimed[0],
            store_suite::ACK,
            None,
            5_001,
        )])
        .await
        .expect("ack");
    // The change waiting behind it moves, and its delivery's body is formed from it.
    store
        .form_deliveries(store_suite::LIMITS, 6_000)
        .await
        .expect("form");
    let next = store
        .claim_due(store_suite::claim_request(6_000, 10, vec![]))
        .await
        .expect("claim");
    assert_eq!(next.len(), 1);
    assert_eq!(
        String::from_utf8(next[0].body.clone()).expect("utf8"),
        format!(r#"{{"brand_id":1,"branch_id":2,"orders":[{}]}}"#, record(2))
    );
    let _ = conn.close().await;
}
