//! Upgrading carries work in flight forward: a database made at each earlier schema
//! version, with changes waiting behind a batched head and deliveries pending, drains
//! completely and in order once today's hookit opens it.
//!
//! Each old database is built by applying the historical migration files in order, and
//! its rows are written with plain SQL as that version of hookit wrote them.

#[allow(unused_imports)] // the suite's checks are not run here, only its helpers
mod store_suite;

use hookit::store::sqlite::SqliteStore;
use hookit::store::*;
use klikit_webhook::EventType;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use std::path::Path;
use store_suite::{LIMITS, T0, rfc3339};

/// The schema files as each version shipped them: version N is the first N.
const HISTORY: &[&str] = &[
    include_str!("../src/store/sqlite/0001_initial.sql"),
    include_str!("../src/store/sqlite/0002_operators_and_audit.sql"),
    include_str!("../src/store/sqlite/0003_queue_successors.sql"),
    include_str!("../src/store/sqlite/0004_leases_and_hosts.sql"),
];

const PARTNER: &str = "prt_old";
const MAPPING: &str = "map_old";
const STATUS: &str = "klikit.order.status.updated";

fn migrate_to(conn: &Connection, version: usize) {
    for sql in &HISTORY[..version] {
        conn.execute_batch(sql).expect("historical migration");
    }
    conn.pragma_update(None, "user_version", version)
        .expect("version");
}

fn record(order_id: i64, version: i64) -> String {
    format!(
        r#"{{"id":{order_id},"brands":[{{"id":1,"title":"Bali Bites"}}],"branch_id":2,"status":{status},"version":{version}}}"#,
        status = version.min(2)
    )
}

/// One order with `versions` changes; `states[i]` is the queue state of change i+1.
/// A `batched` change gets a pending delivery, a `finished` one a delivered delivery.
fn write_order(conn: &Connection, order_id: i64, states: &[&str], with_flag: Option<bool>) {
    let versions = states.len() as i64;
    conn.execute(
        "INSERT INTO orders (id, brand_id, branch_id, status, placed_at, updated_at, version, record)
         VALUES (?1, 1, 2, 1, NULL, ?2, ?3, ?4)",
        // The stored time a partner's `occurred_at` of 2100 left behind.
        params![
            order_id,
            4_102_444_800_000_i64,
            versions,
            record(order_id, versions).into_bytes()
        ],
    )
    .expect("order");
    for (index, state) in states.iter().enumerate() {
        let version = index as i64 + 1;
        let change = format!("chg_{order_id}_{version}");
        let at = T0 + version;
        conn.execute(
            "INSERT INTO order_changes (id, order_id, version, event_type, brand_id, branch_id,
                                        record, ingested_at)
             VALUES (?1, ?2, ?3, ?4, 1, 2, ?5, ?6)",
            params![
                change,
                order_id,
                version,
                STATUS,
                record(order_id, version).into_bytes(),
                at
            ],
        )
        .expect("change");
        let delivery = match *state {
            "batched" | "finished" => {
                let id = format!("evt_{order_id}_{version}");
                let body = format!(
                    r#"{{"brand_id":1,"branch_id":2,"orders":[{}]}}"#,
                    record(order_id, version)
                );
                let finished = *state == "finished";
                conn.execute(
                    "INSERT INTO deliveries (id, partner_id, mapping_id, event_type, brand_id,
                         branch_id, order_ids, body, state, next_attempt_at, first_ingested_at,
                         created_at, finished_at)
                     VALUES (?1, ?2, ?3, ?4, 1, 2, ?5, ?6, ?7, ?8, ?8, ?8, ?9)",
                    params![
                        id,
                        PARTNER,
                        MAPPING,
                        STATUS,
                        format!("[{order_id}]"),
                        body.into_bytes(),
                        if finished { "delivered" } else { "pending" },
                        at,
                        finished.then_some(at),
                    ],
                )
                .expect("delivery");
                Some(id)
            }
            _ => None,
        };
        let queue_id = format!("que_{order_id}_{version}");
        conn.execute(
            "INSERT INTO queue (id, partner_id, mapping_id, order_id, order_version, change_id,
                                state, delivery_id, queued_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                queue_id, PARTNER, MAPPING, order_id, version, change, state, delivery, at
            ],
        )
        .expect("queue row");
        if let Some(flag) = with_flag {
            let unfinished = matches!(*state, "waiting" | "ready" | "batched");
            let behind = flag && unfinished && index + 1 < states.len();
            conn.execute(
                "UPDATE queue SET has_successor = ?1 WHERE id = ?2",
                params![behind, queue_id],
            )
            .expect("flag");
        }
    }
}

/// A database at `version` with work in flight, as that version left it.
fn old_database(path: &Path, version: usize) {
    let conn = Connection::open(path).expect("open old database");
    // Rows written before the upgrade to 3 carry has_successor 0 once 0003 adds it.
    migrate_to(&conn, version.min(2));
    conn.execute(
        "INSERT INTO partners (id, name, partner_key, secret_hash, webhook_secret_enc, enabled,
                               created_at, updated_at)
         VALUES (?1, 'Old', 'pk_old', 'sha256:00', x'010203', 1, ?2, ?2)",
        params![PARTNER, T0],
    )
    .expect("partner");
    conn.execute(
        "INSERT INTO mappings (id, partner_id, brand_id, branch_id, event_type, url, created_at,
                               updated_at)
         VALUES (?1, ?2, 1, NULL, ?3, 'https://old.example/', ?4, ?4)",
        params![MAPPING, PARTNER, STATUS, T0],
    )
    .expect("mapping");
    // Two changes waiting behind a head in a pending delivery, and one behind a head
    // not yet batched.
    write_order(&conn, 100, &["batched", "waiting", "waiting"], None);
    write_order(&conn, 200, &["ready", "waiting"], None);
    if version >= 3 {
        conn.execute_batch(HISTORY[2]).expect("upgrade to 3");
        // Under version 3, a head queued before the upgrade finished without promoting
        // the change behind it; and version 3 itself flagged what it queued.
        write_order(&conn, 300, &["finished", "waiting"], Some(false));
        write_order(&conn, 400, &["batched", "waiting"], Some(true));
        for sql in &HISTORY[3..version] {
            conn.execute_batch(sql).expect("upgrade past 3");
        }
        if version >= 4 {
            // Version 4 filled in each mapping's host in the same transaction.
            conn.execute("UPDATE mappings SET host = 'old.example:443'", [])
                .expect("hosts");
        }
        conn.pragma_update(None, "user_version", version)
            .expect("version");
    }
}

/// Forms, claims and acknowledges until nothing is left; returns the versions each
/// order was delivered with, in delivery order.
async fn drain(store: &SqliteStore) -> BTreeMap<i64, Vec<i64>> {
    let mut delivered: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut now = T0 + 1_000;
    for _ in 0..20 {
        store.form_deliveries(LIMITS, now).await.expect("form");
        let claimed = store
            .claim_due(store_suite::claim_request(now, 100, vec![]))
            .await
            .expect("claim");
        if claimed.is_empty() {
            return delivered;
        }
        let mut outcomes = Vec::new();
        for delivery in &claimed {
            for order in store_suite::body_json(delivery)["orders"]
                .as_array()
                .expect("orders")
            {
                let id = order["id"].as_i64().expect("id");
                let version = order["version"].as_i64().expect("version");
                delivered.entry(id).or_default().push(version);
            }
            outcomes.push(store_suite::outcome(delivery, store_suite::ACK, None, now));
        }
        store.record_outcomes(outcomes).await.expect("record");
        now += 1_000;
    }
    panic!("work was still being claimed after 20 rounds: {delivered:?}");
}

async fn upgraded_database_drains(version: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("hookit.db");
    old_database(&path, version);
    let store = SqliteStore::open(&path).expect("open and migrate");
    let delivered = drain(&store).await;
    let mut expected = BTreeMap::from([(100, vec![1, 2, 3]), (200, vec![1, 2])]);
    if version >= 3 {
        expected.insert(300, vec![2]);
        expected.insert(400, vec![1, 2]);
    }
    assert_eq!(delivered, expected, "from version {version}");

    // An order's latest record is read from its latest change once the row no longer
    // carries a copy (version 11).
    let latest = store.get_order(100).await.expect("get").expect("order 100");
    assert_eq!(latest.version, 3, "from version {version}");
    assert_eq!(
        latest.record,
        record(100, 3).into_bytes(),
        "from version {version}"
    );

    // The order list shows the orders without placed_at, by when they were first stored.
    let page = store
        .list_orders_for_partner(PartnerOrderQuery {
            partner_id: PARTNER.into(),
            placed_from: T0,
            placed_to: T0 + 2,
            status: None,
            branch_id: None,
            page: 1,
            size: 10,
        })
        .await
        .expect("list");
    assert_eq!(page.total, expected.len() as u64, "from version {version}");

    // The time a partner left in the old column no longer silences the platform.
    let push = store
        .ingest(IngestRequest {
            items: vec![store_suite::item(
                EventType::OrderStatusUpdated,
                store_suite::order(100, 1, 2, 4, &rfc3339(T0 + 5_000)),
            )],
            idempotency: None,
            now: T0 + 5_000,
            freshness_skew: store_suite::SKEW,
        })
        .await
        .expect("ingest");
    assert_eq!(push.results[0].result, "stored", "from version {version}");
    drop(store);
    let conn = Connection::open(&path).expect("reopen");
    let unfinished: i64 = conn
        .query_row(
            "SELECT count(*) FROM queue WHERE state NOT IN ('finished', 'ready')",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(unfinished, 0, "nothing stalls, from version {version}");
}

#[tokio::test]
async fn a_database_at_version_1_drains_in_order() {
    upgraded_database_drains(1).await;
}

#[tokio::test]
async fn a_database_at_version_2_drains_in_order() {
    upgraded_database_drains(2).await;
}

#[tokio::test]
async fn a_database_at_version_3_drains_in_order() {
    upgraded_database_drains(3).await;
}

#[tokio::test]
async fn a_database_at_version_4_drains_in_order() {
    upgraded_database_drains(4).await;
}
