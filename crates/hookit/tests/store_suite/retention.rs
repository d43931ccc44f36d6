//! Retention: a prune removes exactly what is past its time — never pending work, nor
//! an order a kept delivery was formed from — pruned orders leave tombstones that
//! carry their versions and staleness on, and one batch is bounded.

use super::*;

/// The suite's retention: deliveries delivered 1 s ago or dead 3 s ago go, orders
/// unchanged for 0.5 s (once nothing kept needs them), idempotency keys after 0.5 s.
const POLICY: RetentionPolicy = RetentionPolicy {
    delivered: Duration::from_millis(1_000),
    dead: Duration::from_millis(3_000),
    orders: Duration::from_millis(500),
    idempotency_keys: Duration::from_millis(500),
};

/// Prunes every kind at `now`, batch after batch, as the pruner does.
pub async fn prune_all(store: &dyn Store, policy: RetentionPolicy, now: Millis) -> PruneCounts {
    let mut counts = PruneCounts::default();
    for kind in PruneKind::ALL {
        loop {
            let batch = store.prune_batch(kind, policy, now).await.expect("prune");
            counts.add(kind, batch.records);
            if !batch.more {
                break;
            }
        }
    }
    counts
}

fn counts(
    delivered: u64,
    dead: u64,
    orders: u64,
    tombstones: u64,
    idempotency_keys: u64,
) -> PruneCounts {
    PruneCounts {
        delivered,
        dead,
        orders,
        tombstones,
        idempotency_keys,
    }
}

/// Orders 1, 2 and 3 (branches 11, 12, 13) each become a delivery at T0: 1's is
/// acknowledged and 2's dies at T0 + 10, 3's fails and waits for a retry far ahead.
/// Order 4 (brand 9) is routed to nobody. Returns the event ids of 1, 2 and 3.
async fn three_fates(store: &dyn Store) -> [String; 3] {
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
    let mut items: Vec<IngestItem> = (1..=3)
        .map(|id| {
            item(
                EventType::OrderCreated,
                order(id, 1, 10 + id, 1, &rfc3339(T0)),
            )
        })
        .collect();
    items.push(item(
        EventType::OrderCreated,
        order(4, 9, 1, 1, &rfc3339(T0)),
    ));
    store
        .ingest(IngestRequest {
            items,
            idempotency: Some(IdempotencyKey {
                key: "push-1".into(),
                request_digest: "d1".into(),
            }),
            now: T0,
            freshness_skew: SKEW,
        })
        .await
        .expect("ingest");
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let claimed = claim(store, T0).await;
    assert_eq!(claimed.len(), 3, "one delivery per branch");
    let by_order = |id: i64| {
        claimed
            .iter()
            .find(|d| order_ids(d) == vec![id])
            .expect("a delivery per order")
    };
    let done = T0 + 10;
    let outcomes = vec![
        outcome(by_order(1), ACK, None, done),
        outcome(by_order(2), failure(), None, done),
        outcome(by_order(3), failure(), Some(T0 + 1_000_000_000_000), done),
    ];
    store.record_outcomes(outcomes).await.expect("outcomes");
    [1, 2, 3].map(|id| by_order(id).event_id.clone())
}

pub async fn retention_removes_exactly_what_is_past_its_time(store: &dyn Store) {
    let [delivered, dead, pending] = three_fates(store).await;
    // Read-only counts first: a dry run counts the orders the deliveries it would
    // remove are holding.
    assert_eq!(
        store
            .count_prunable(POLICY, T0 + 1_010)
            .await
            .expect("count"),
        counts(0, 0, 1, 0, 1),
        "at exactly its retention a delivery stays, and so does its order; order 4 \
         (routed nowhere) and the key go"
    );
    assert_eq!(
        store
            .count_prunable(POLICY, T0 + 1_011)
            .await
            .expect("count"),
        counts(1, 0, 2, 0, 1),
        "past it the delivered delivery goes, freeing order 1"
    );
    assert_eq!(
        store
            .count_prunable(POLICY, T0 + 3_011)
            .await
            .expect("count"),
        counts(1, 1, 3, 0, 1),
    );

    assert_eq!(
        prune_all(store, POLICY, T0 + 1_011).await,
        counts(1, 0, 2, 0, 1)
    );
    assert!(store.get_delivery(&delivered).await.expect("get").is_none());
    assert!(store.get_delivery(&dead).await.expect("get").is_some());
    assert!(store.get_delivery(&pending).await.expect("get").is_some());
    for (id, kept) in [(1, false), (2, true), (3, true), (4, false)] {
        assert_eq!(
            store.get_order(id).await.expect("order").is_some(),
            kept,
            "order {id}: 2 is needed by its dead delivery (within its retention), 3 by its pending one"
        );
    }
    assert!(
        store
            .idempotent_answer("ingest", "push-1")
            .await
            .expect("key")
            .is_none()
    );
    assert_eq!(
        store
            .count_prunable(POLICY, T0 + 1_011)
            .await
            .expect("count"),
        PruneCounts::default(),
        "nothing is left to count at the same time"
    );

    assert_eq!(
        prune_all(store, POLICY, T0 + 3_011).await,
        counts(0, 1, 1, 2, 0),
        "the tombstones orders 1 and 4 left at T0 + 1,011 are past the orders' retention"
    );
    assert!(store.get_delivery(&dead).await.expect("get").is_none());
    assert!(store.get_order(2).await.expect("order").is_none());

    // Pending work is never pruned, however old; order 2's tombstone goes.
    let far = T0 + 100 * 365 * 86_400_000;
    assert_eq!(prune_all(store, POLICY, far).await, counts(0, 0, 0, 1, 0));
    let still = store
        .get_delivery(&pending)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(still.summary.state, DeliveryState::Pending);
    assert!(store.get_order(3).await.expect("order").is_some());
    // The audit log is kept.
    let audit = store
        .list_audit(AuditQuery {
            actor: None,
            action: None,
            since: None,
            page: 1,
            size: 10,
        })
        .await
        .expect("audit");
    assert!(audit.total >= 2, "partner and mapping entries remain");
}

pub async fn a_pruned_order_continues_its_version_and_staleness(store: &dyn Store) {
    let push = |updated: Millis, now: Millis| async move {
        ingest(
            store,
            vec![item(
                EventType::OrderStatusUpdated,
                order(7, 9, 1, 1, &rfc3339(updated)),
            )],
            now,
        )
        .await
        .results
        .remove(0)
    };
    push(T0, T0).await;
    assert_eq!(push(T0 + 5, T0 + 5).await.version, 2);
    let later = T0 + 10_000;
    assert_eq!(prune_all(store, POLICY, later).await.orders, 1);
    assert!(store.get_order(7).await.expect("order").is_none());

    let stale = push(T0 + 1, later).await;
    assert_eq!(
        (stale.result.as_str(), stale.version),
        ("ignored_stale", 2),
        "the tombstone keeps the platform's last updated_at"
    );
    let next = push(T0 + 20_000, later).await;
    assert_eq!((next.result.as_str(), next.version), ("stored", 3));
    let stored = store.get_order(7).await.expect("order").expect("back");
    assert_eq!(
        stored.version, 3,
        "the version continues after the tombstone"
    );
    let record: Value = serde_json::from_slice(&stored.record).expect("record");
    assert_eq!(record["version"], 3);

    // Pruned again, the tombstone moves on with it.
    assert_eq!(
        prune_all(store, POLICY, later + 100_000).await.orders,
        1,
        "only order 7 was stored"
    );
    assert_eq!(push(T0 + 30_000, later + 100_000).await.version, 4);

    // A tombstone is kept for the orders' retention after its order went, then goes:
    // a change after that starts the order over, stale or not.
    let gone = later + 200_000;
    assert_eq!(prune_all(store, POLICY, gone).await.orders, 1);
    let within = gone + 500;
    assert_eq!(
        store
            .count_prunable(POLICY, within)
            .await
            .expect("count")
            .tombstones,
        0,
        "at exactly the orders' retention the tombstone stays"
    );
    assert_eq!(prune_all(store, POLICY, within).await.tombstones, 0);
    let kept = push(T0 + 1, within).await;
    assert_eq!(
        (kept.result.as_str(), kept.version),
        ("ignored_stale", 4),
        "the tombstone still holds the version and the staleness"
    );
    let past = gone + 501;
    assert_eq!(prune_all(store, POLICY, past).await.tombstones, 1);
    let over = push(T0 + 1, past).await;
    assert_eq!((over.result.as_str(), over.version), ("stored", 1));
}

pub async fn a_prune_batch_touches_a_bounded_number_of_rows(store: &dyn Store) {
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
    let total = PRUNE_BATCH as i64 + 5;
    let items = (1..=total)
        .map(|id| item(EventType::OrderCreated, order(id, 1, 2, 1, &rfc3339(T0))))
        .collect();
    ingest(store, items, T0).await;
    let one_per_delivery = BatchLimits {
        max_orders: 1,
        max_bytes: 1 << 20,
    };
    store
        .form_deliveries(one_per_delivery, T0)
        .await
        .expect("form");
    let mut acked = 0;
    while acked < total {
        let claimed = store
            .claim_due(claim_request(T0, 64, vec![]))
            .await
            .expect("claim");
        assert!(!claimed.is_empty(), "all {total} deliveries are due");
        acked += claimed.len() as i64;
        let outcomes = claimed.iter().map(|d| outcome(d, ACK, None, T0)).collect();
        store.record_outcomes(outcomes).await.expect("ack");
    }
    let later = T0 + 10_000;
    // A batch stops at PRUNE_BATCH records (or earlier, where a backend bounds the time
    // one write takes), and says whether more is left; batch after batch removes all.
    let mut batches = Vec::new();
    loop {
        let batch = store
            .prune_batch(PruneKind::Delivered, POLICY, later)
            .await
            .expect("prune");
        batches.push(batch);
        if !batch.more {
            break;
        }
        assert!(
            batch.records > 0,
            "a batch that says more removed something"
        );
    }
    assert!(
        batches.len() >= 2,
        "{total} deliveries take more than one batch"
    );
    for batch in &batches {
        assert!(batch.records <= PRUNE_BATCH as u64, "one batch is capped");
        assert_eq!(
            batch.rows,
            3 * batch.records,
            "each delivery with its one attempt and one queue row"
        );
    }
    assert_eq!(
        batches.iter().map(|b| b.records).sum::<u64>(),
        total as u64,
        "every delivery went"
    );
    let orders = store
        .prune_batch(PruneKind::Orders, POLICY, later)
        .await
        .expect("prune");
    assert!(
        (1..=PRUNE_BATCH as u64).contains(&orders.records),
        "one batch is capped"
    );
    assert!(orders.more, "{total} orders do not fit in one batch");
    assert_eq!(
        orders.rows,
        2 * orders.records,
        "each order with its one change"
    );
    assert_eq!(
        store.count_prunable(POLICY, later).await.expect("count"),
        counts(0, 0, total as u64 - orders.records, 0, 0)
    );
}
