//! Several writers at once: two store instances on one database, driven concurrently
//! for many rounds. For backends that allow more than one process (PostgreSQL);
//! SQLite has one writer and does not run these.

use super::*;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Rounds each check runs: enough that a race between the two writers shows.
const ROUNDS: i64 = 20;

/// One delivery per order, so that every formed delivery names exactly one change.
const ONE_PER_DELIVERY: BatchLimits = BatchLimits {
    max_orders: 1,
    max_bytes: 1 << 20,
};

fn batch_of(first: i64, count: i64) -> Vec<IngestItem> {
    (first..first + count)
        .map(|id| {
            item(
                EventType::OrderCreated,
                order(id, 1, 2, 1, "2026-01-01T00:00:00Z"),
            )
        })
        .collect()
}

/// Claims everything due on `store` (leases long enough to outlast the check).
async fn claim_all(store: &dyn Store, now: Millis) -> Vec<ClaimedDelivery> {
    let mut all = Vec::new();
    loop {
        let claimed = claim(store, now).await;
        if claimed.is_empty() {
            return all;
        }
        all.extend(claimed);
    }
}

/// A ready change is formed into exactly one delivery, once, when two processes batch
/// at the same time.
pub async fn a_ready_change_is_formed_once_by_concurrent_batchers(a: &dyn Store, b: &dyn Store) {
    let p = partner(a, "A").await;
    map(
        a,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    const PER_ROUND: i64 = 25;
    let mut formed_total = 0;
    for round in 0..ROUNDS {
        ingest(a, batch_of(round * PER_ROUND + 1, PER_ROUND), T0).await;
        let (left, right) = tokio::join!(
            a.form_deliveries(ONE_PER_DELIVERY, T0),
            b.form_deliveries(ONE_PER_DELIVERY, T0)
        );
        formed_total += left.expect("form on a") + right.expect("form on b");
    }
    let claimed = claim_all(a, T0).await;
    let mut seen: HashMap<i64, u32> = HashMap::new();
    for delivery in &claimed {
        for id in order_ids(delivery) {
            *seen.entry(id).or_default() += 1;
        }
    }
    let orders = ROUNDS * PER_ROUND;
    assert_eq!(formed_total, orders as usize, "each change formed once");
    assert_eq!(claimed.len(), orders as usize);
    assert_eq!(seen.len(), orders as usize, "every order was delivered");
    assert!(
        seen.values().all(|count| *count == 1),
        "no order in two deliveries"
    );
}

/// A due delivery is leased by one process at a time, however the claims interleave.
pub async fn a_due_delivery_is_leased_by_one_claimer(a: &dyn Store, b: &dyn Store) {
    let p = partner(a, "A").await;
    map(
        a,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    const PER_ROUND: i64 = 30;
    for round in 0..ROUNDS {
        ingest(a, batch_of(round * PER_ROUND + 1, PER_ROUND), T0).await;
        a.form_deliveries(ONE_PER_DELIVERY, T0).await.expect("form");
        let mut leased: HashSet<String> = HashSet::new();
        loop {
            let (left, right) = tokio::join!(
                a.claim_due(claim_request(T0, 4, vec![])),
                b.claim_due(claim_request(T0, 4, vec![]))
            );
            let (left, right) = (left.expect("claim on a"), right.expect("claim on b"));
            if left.is_empty() && right.is_empty() {
                break;
            }
            for delivery in left.iter().chain(&right) {
                assert!(
                    leased.insert(delivery.event_id.clone()),
                    "round {round}: {} leased twice",
                    delivery.event_id
                );
                assert_eq!(delivery.attempt_number, 1);
            }
        }
        assert_eq!(leased.len(), PER_ROUND as usize, "round {round}");
    }
}

/// Concurrent changes of one order get distinct, consecutive versions, and the
/// per-order sequence has one head: deliveries carry the versions one at a time, in
/// order.
pub async fn concurrent_changes_of_one_order_get_consecutive_versions(
    a: &dyn Store,
    b: &dyn Store,
) {
    let p = partner(a, "A").await;
    map(
        a,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    const ORDER: i64 = 77;
    let push = || {
        vec![item(
            EventType::OrderCreated,
            order(ORDER, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )]
    };
    let mut versions = BTreeSet::new();
    for _ in 0..ROUNDS {
        let (left, right) = tokio::join!(ingest(a, push(), T0), ingest(b, push(), T0));
        for outcome in [left, right] {
            assert_eq!(outcome.results[0].result, "stored");
            assert!(
                versions.insert(outcome.results[0].version),
                "version {} given twice",
                outcome.results[0].version
            );
        }
    }
    let expected: BTreeSet<i64> = (1..=2 * ROUNDS).collect();
    assert_eq!(versions, expected, "distinct and consecutive");
    // Only the head is ever batched; finishing it lets the next one through.
    for version in 1..=3 {
        let (left, right) =
            tokio::join!(a.form_deliveries(LIMITS, T0), b.form_deliveries(LIMITS, T0));
        assert_eq!(left.expect("form") + right.expect("form"), 1, "one head");
        let claimed = claim(a, T0).await;
        assert_eq!(claimed.len(), 1);
        assert_eq!(body_json(&claimed[0])["orders"][0]["version"], version);
        let stale = a
            .record_outcomes(vec![outcome(&claimed[0], ACK, None, T0)])
            .await
            .expect("record");
        assert_eq!(stale, 0);
    }
}

/// The same idempotency key sent to two processes at once writes once, and both
/// answer alike.
pub async fn one_idempotency_key_used_concurrently_writes_once(a: &dyn Store, b: &dyn Store) {
    let p = partner(a, "A").await;
    map(
        a,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    for round in 0..ROUNDS {
        let push = || IngestRequest {
            items: batch_of(1000 + round, 1),
            idempotency: Some(IdempotencyKey {
                key: format!("push-{round}"),
                request_digest: "same".into(),
            }),
            now: T0,
            freshness_skew: SKEW,
        };
        let (left, right) = tokio::join!(a.ingest(push()), b.ingest(push()));
        let (left, right) = (left.expect("ingest on a"), right.expect("ingest on b"));
        assert_eq!(
            left.results, right.results,
            "round {round}: the same answer"
        );
        assert!(
            left.idempotent_replay != right.idempotent_replay,
            "round {round}: one write and one replay"
        );
        let stored = a
            .get_order(1000 + round)
            .await
            .expect("get")
            .expect("order");
        assert_eq!(stored.version, 1, "round {round}: written once");
    }
}

/// Concurrent upserts of one mapping tuple leave one mapping.
pub async fn concurrent_mapping_upserts_leave_one_mapping(a: &dyn Store, b: &dyn Store) {
    let p = partner(a, "A").await;
    for round in 0..ROUNDS {
        let brand = 100 + round;
        let (left, right) = tokio::join!(
            map(
                a,
                &p,
                brand,
                Some(1),
                EventType::OrderCreated,
                "https://a.example/"
            ),
            map(
                b,
                &p,
                brand,
                Some(1),
                EventType::OrderCreated,
                "https://b.example/"
            )
        );
        assert_eq!(left.id, right.id, "round {round}: one mapping");
    }
    let mappings = a.list_mappings(Some(&p.id)).await.expect("list");
    assert_eq!(mappings.len(), ROUNDS as usize);
}
