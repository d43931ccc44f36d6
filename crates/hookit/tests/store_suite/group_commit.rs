//! Checks for backends that commit concurrent writes together (group commit): few
//! commits for many requests, and a request's own failure stays its own.
//!
//! Each check takes a shared store so the requests can run as concurrent tasks. A
//! large request goes first so the writer is busy while the others queue behind it:
//! they then meet in the next commit.
//!
//! A failure of the COMMIT itself cannot be caused through the store's API (every
//! write the store makes is checked statement by statement); the writer's own unit
//! tests (`store/sqlite/group_commit/tests.rs`) make SQLite refuse a COMMIT with a
//! deferred foreign key and check that every write of that commit fails.

use super::*;
use std::sync::Arc;

const BLOCKER_BASE: i64 = 1_000_000;

fn single(order_id: i64, key: Option<(&str, &str)>) -> IngestRequest {
    IngestRequest {
        items: vec![item(
            EventType::OrderCreated,
            order(order_id, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        idempotency: key.map(|(key, digest)| IdempotencyKey {
            key: key.into(),
            request_digest: digest.into(),
        }),
        now: T0,
        freshness_skew: SKEW,
    }
}

/// A request of 1,000 orders: keeps the writer busy while the others queue.
fn blocker() -> IngestRequest {
    IngestRequest {
        items: (0..1000)
            .map(|n| {
                item(
                    EventType::OrderCreated,
                    order(BLOCKER_BASE + n, 1, 3, 1, "2026-01-01T00:00:00Z"),
                )
            })
            .collect(),
        idempotency: None,
        now: T0,
        freshness_skew: SKEW,
    }
}

/// Runs the requests as concurrent tasks (the blocker first) and returns their results
/// in the order given.
async fn concurrently(
    store: &Arc<dyn Store>,
    requests: Vec<IngestRequest>,
) -> Vec<StoreResult<IngestOutcome>> {
    let mut tasks = Vec::new();
    for request in std::iter::once(blocker()).chain(requests) {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move { store.ingest(request).await }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("ingest task"));
    }
    let blocked = results.remove(0).expect("the blocker is stored");
    assert_eq!(blocked.results.len(), 1000);
    results
}

fn commits(store: &dyn Store) -> u64 {
    store
        .commits()
        .expect("a group-committing backend counts its commits")
}

async fn mapped(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
}

pub async fn concurrent_requests_share_few_commits(store: Arc<dyn Store>) {
    mapped(&*store).await;
    let before = commits(&*store);
    let requests = (1..=63).map(|id| single(id, None)).collect();
    let results = concurrently(&store, requests).await;
    for (n, result) in results.into_iter().enumerate() {
        let outcome = result.expect("stored");
        assert_eq!(outcome.results[0].order_id, n as i64 + 1);
        assert_eq!(outcome.results[0].result, "stored");
        assert_eq!(outcome.results[0].routed_to, 1);
    }
    let made = commits(&*store) - before;
    // 64 requests: the blocker's commit, then the 63 that queued behind it (one or two
    // commits, depending on when the writer woke). One commit each would be 64.
    assert!(
        (1..=4).contains(&made),
        "64 concurrent requests took {made} commits"
    );
    for id in 1..=63 {
        assert!(store.get_order(id).await.expect("get").is_some(), "{id}");
    }
    let formed = store.form_deliveries(LIMITS, T0).await.expect("form");
    // Branch 2: 63 orders in 2 deliveries of ≤ 50; branch 3: 1,000 in 20.
    assert_eq!(formed, 22);
}

pub async fn a_failing_request_rolls_back_alone_in_its_commit(store: Arc<dyn Store>) {
    mapped(&*store).await;
    store
        .ingest(single(500, Some(("reused", "first digest"))))
        .await
        .expect("the key's first use");
    // An order the store refuses: it has no brand.
    let brandless = Order::from_json_bytes(
        br#"{"id":3,"external_id":"EXT-3","business_id":737,"brands":[],"branch_id":2,"status":1,"updated_at":"2026-01-01T00:00:00Z"}"#,
    )
    .expect("parses");
    let mut half_valid = single(2, None);
    half_valid
        .items
        .push(item(EventType::OrderCreated, brandless));
    let before = commits(&*store);
    let results = concurrently(
        &store,
        vec![
            single(1, None),
            single(500, Some(("reused", "another digest"))),
            half_valid,
            single(4, None),
        ],
    )
    .await;
    let made = commits(&*store) - before;
    assert!((1..=3).contains(&made), "5 requests took {made} commits");
    let mut results = results.into_iter();
    assert_eq!(
        results.next().expect("1").expect("order 1 stored").results[0].result,
        "stored"
    );
    assert!(matches!(
        results.next().expect("2"),
        Err(StoreError::IdempotencyMismatch { .. })
    ));
    assert!(matches!(
        results.next().expect("3"),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        results.next().expect("4").expect("order 4 stored").results[0].result,
        "stored"
    );
    for (id, kept) in [(1, true), (2, false), (3, false), (4, true), (500, true)] {
        let found = store.get_order(id).await.expect("get");
        assert_eq!(found.is_some(), kept, "order {id}");
    }
    let version = store
        .get_order(500)
        .await
        .expect("get")
        .expect("500")
        .version;
    assert_eq!(version, 1, "the mismatched request changed nothing");
    // Only what was kept was routed: orders 1, 4 and 500 on branch 2 (one delivery),
    // the blocker's 1,000 on branch 3 (20).
    assert_eq!(store.form_deliveries(LIMITS, T0).await.expect("form"), 21);
    let mut delivered: Vec<i64> = claim(&*store, T0)
        .await
        .iter()
        .flat_map(order_ids)
        .filter(|id| *id < BLOCKER_BASE)
        .collect();
    delivered.sort_unstable();
    assert_eq!(delivered, vec![1, 4, 500]);
}
