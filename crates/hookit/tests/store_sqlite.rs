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
