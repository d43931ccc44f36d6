//! The store behavioural suite on the embedded SQLite backend, plus what is specific
//! to it (reopening a file keeps everything).

mod store_suite;

use hookit::store::Store;
use hookit::store::sqlite::SqliteStore;
use std::sync::Arc;

async fn open_sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("hookit.db")).expect("open store");
    (dir, Arc::new(store))
}

store_suite!(open_sqlite());

#[tokio::test]
async fn reopening_the_file_keeps_partners_and_pending_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookit.db");
    let partner_id = {
        let store = SqliteStore::open(&path).expect("open");
        let p = store_suite::partner(&store, "A").await;
        store_suite::map(
            &store,
            &p,
            1,
            None,
            klikit_webhook::EventType::OrderCreated,
            "https://a.example/",
        )
        .await;
        let order = store_suite::order(1, 1, 2, 1, "2026-01-01T00:00:00Z");
        store_suite::ingest(
            &store,
            vec![store_suite::item(
                klikit_webhook::EventType::OrderCreated,
                order,
            )],
            store_suite::T0,
        )
        .await;
        p.id
    };
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store.get_partner(&partner_id).await.expect("partner").id,
        partner_id
    );
    store
        .form_deliveries(store_suite::LIMITS, store_suite::T0)
        .await
        .expect("form");
    assert_eq!(store_suite::claim(&store, store_suite::T0).await.len(), 1);
}

/// A database as the previous schema (version 3) left it: one mapping, one pending
/// delivery whose late outcome was once recorded as attempt 2 while `attempts` stayed
/// at 1 (what overwriting attempt records allowed), and a lease held by an old owner.
fn version_3_database(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    for sql in [
        include_str!("../src/store/sqlite/0001_initial.sql"),
        include_str!("../src/store/sqlite/0002_operators_and_audit.sql"),
        include_str!("../src/store/sqlite/0003_queue_successors.sql"),
    ] {
        conn.execute_batch(sql).expect("old schema");
    }
    let t0 = store_suite::T0;
    conn.execute_batch(&format!(
        "PRAGMA user_version = 3;
         INSERT INTO partners VALUES ('prt_a', 'A', 'pk_a', 'h', x'010203', 1, {t0}, {t0});
         INSERT INTO mappings VALUES ('map_a', 'prt_a', 1, 1, 'klikit.order.created.v2',
                                      'https://Branch.POS.example/b/1', {t0}, {t0});
         INSERT INTO deliveries (id, partner_id, mapping_id, event_type, brand_id, branch_id,
                                 order_ids, body, state, attempts, next_attempt_at,
                                 lease_owner, lease_until, first_ingested_at, created_at)
         VALUES ('evt_a', 'prt_a', 'map_a', 'klikit.order.created.v2', 1, 1, '[1]', x'7b7d', 'pending',
                 1, {t0}, 'dsp_old', {t0} + 5000, {t0}, {t0});
         INSERT INTO attempts VALUES ('evt_a', 1, {t0}, 5, 'https://Branch.POS.example/b/1',
                                      500, 'http_status', 'HTTP 500', NULL);
         INSERT INTO attempts VALUES ('evt_a', 2, {t0}, 5, 'https://Branch.POS.example/b/1',
                                      200, NULL, NULL, NULL);"
    ))
    .expect("old rows");
}

#[tokio::test]
async fn migrating_fills_in_mapping_hosts_and_keeps_attempt_numbers_unique() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookit.db");
    version_3_database(&path);
    let store = SqliteStore::open(&path).expect("migrate");
    let t0 = store_suite::T0;
    assert!(
        store_suite::claim(&store, t0 + 4_999).await.is_empty(),
        "a lease taken before the migration still holds until it expires"
    );
    let skipping_the_host = store
        .claim_due(hookit::store::ClaimRequest {
            saturated_hosts: vec!["branch.pos.example:443".into()],
            ..store_suite::claim_request(t0 + 5_000, 10, vec![])
        })
        .await
        .expect("claim");
    assert!(
        skipping_the_host.is_empty(),
        "the existing mapping got its host: claims skip it"
    );
    let claimed = store_suite::claim(&store, t0 + 5_000).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        claimed[0].attempt_number, 3,
        "numbers continue after the highest recorded one"
    );
    let stale = store
        .record_outcomes(vec![store_suite::outcome(
            &claimed[0],
            store_suite::ACK,
            None,
            t0 + 5_001,
        )])
        .await
        .expect("a plain insert of attempt 3 succeeds");
    assert_eq!(stale, 0);
    let detail = store
        .get_delivery("evt_a")
        .await
        .expect("read")
        .expect("delivery");
    let numbers: Vec<u32> = detail.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(
        detail.summary.state,
        hookit::store::DeliveryState::Delivered
    );
}

#[tokio::test]
async fn concurrent_requests_share_few_commits() {
    let (_dir, store) = open_sqlite().await;
    store_suite::group_commit::concurrent_requests_share_few_commits(store).await;
}

#[tokio::test]
async fn a_failing_request_rolls_back_alone_in_its_commit() {
    let (_dir, store) = open_sqlite().await;
    store_suite::group_commit::a_failing_request_rolls_back_alone_in_its_commit(store).await;
}

/// A new database reclaims incrementally: after a prune, `reclaim_space` gives the
/// freed pages back, so the database shrinks instead of keeping them.
#[tokio::test]
async fn pruning_gives_the_freed_pages_back() {
    use hookit::store::{PruneKind, RetentionPolicy};
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookit.db");
    let store = SqliteStore::open(&path).expect("open");
    let pages = || {
        let conn = rusqlite::Connection::open(&path).expect("read");
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
            .expect("mode");
        let count: i64 = conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .expect("pages");
        (mode, count)
    };
    // 2,000 orders routed nowhere, each with a 2 KB cart of ids (random enough that
    // the stored records stay large: records are compressed).
    for block in 0..20 {
        let items = (0..100)
            .map(|i| {
                let mut order =
                    store_suite::order(block * 100 + i + 1, 9, 1, 1, "2026-01-01T00:00:00Z");
                let noise: String = (0..55)
                    .map(|_| hookit::ids::IdKind::Request.generate())
                    .collect();
                let cart = format!("[{}]", serde_json::json!(noise));
                order.cart = Some(klikit_webhook::Cart::from_json(&cart).expect("cart"));
                store_suite::item(klikit_webhook::EventType::OrderCreated, order)
            })
            .collect();
        store_suite::ingest(&store, items, store_suite::T0).await;
    }
    let (mode, full) = pages();
    assert_eq!(
        mode, 2,
        "new databases are created with incremental auto-vacuum"
    );
    let policy = RetentionPolicy {
        orders: Duration::from_millis(1),
        ..RetentionPolicy::default()
    };
    let later = store_suite::T0 + 1_000;
    while store
        .prune_batch(PruneKind::Orders, policy, later)
        .await
        .expect("prune")
        .records
        > 0
    {}
    let mut left = u64::MAX;
    while left > 0 {
        left = store.reclaim_space(1024).await.expect("reclaim");
    }
    let (_, after) = pages();
    assert!(
        after * 4 < full,
        "the database shrank from {full} pages to {after}"
    );
}

/// The checks of the held mark (`store_suite/endpoint_health.rs`), counting held
/// deliveries on a connection of their own to the store's file.
macro_rules! held_checks {
    ($($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("hookit.db");
                let store = SqliteStore::open(&path).expect("open store");
                let held = move || -> store_suite::HeldFuture {
                    let path = path.clone();
                    Box::pin(async move {
                        let conn = rusqlite::Connection::open(&path).expect("open");
                        conn.query_row("SELECT count(*) FROM deliveries WHERE held = 1", [], |row| {
                            row.get(0)
                        })
                        .expect("count held")
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
