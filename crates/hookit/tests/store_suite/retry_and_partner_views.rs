//! Retry now, test deliveries, and what a partner sees of its URLs.

use super::*;

async fn one_pending(store: &dyn Store, url: &str) -> (Partner, ClaimedDelivery) {
    let p = partner(store, "Retry").await;
    map(store, &p, 7, None, EventType::OrderCreated, url).await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(70, 7, 1, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let claimed = claim(store, T0).await.remove(0);
    (p, claimed)
}

fn at(action: &str, when: Millis) -> AuditEntry {
    AuditEntry {
        at: when,
        ..audit(action)
    }
}

pub async fn retry_now_makes_a_pending_delivery_due_without_advancing_its_schedule(
    store: &dyn Store,
) {
    let (p, first) = one_pending(store, "https://r.example/").await;
    // In flight: refused, one by one; counted, in bulk.
    let busy = store
        .retry_delivery_now(&first.event_id, at("delivery.retried", T0 + 1))
        .await;
    assert!(matches!(busy, Err(StoreError::Conflict(_))), "{busy:?}");
    let filter = DeliveryFilter {
        partner_id: Some(p.id.clone()),
        ..DeliveryFilter::default()
    };
    let bulk = store
        .retry_matching_now(filter.clone(), at("deliveries.retried", T0 + 1))
        .await
        .expect("bulk");
    assert_eq!((bulk.retried, bulk.in_flight), (0, 1));

    // Failed, due in an hour: retry now makes it due at once, same schedule position.
    store
        .record_outcomes(vec![outcome(
            &first,
            failure(),
            Some(T0 + 3_600_000),
            T0 + 2,
        )])
        .await
        .expect("record");
    assert!(claim(store, T0 + 10).await.is_empty(), "not due yet");
    let retried = store
        .retry_delivery_now(&first.event_id, at("delivery.retried", T0 + 10))
        .await
        .expect("retry");
    assert_eq!(retried.next_attempt_at, Some(T0 + 10));
    assert_eq!(retried.state, DeliveryState::Pending);
    let second = claim(store, T0 + 10).await.remove(0);
    assert_eq!(second.event_id, first.event_id, "same event id");
    assert_eq!(second.attempt_number, 2, "the attempt is counted");
    assert_eq!(
        second.retry_index, 1,
        "the schedule is not advanced by the retry"
    );
    store
        .record_outcomes(vec![outcome(
            &second,
            failure(),
            Some(T0 + 3_600_000),
            T0 + 11,
        )])
        .await
        .expect("record");
    let bulk = store
        .retry_matching_now(filter, at("deliveries.retried", T0 + 20))
        .await
        .expect("bulk");
    assert_eq!((bulk.retried, bulk.in_flight), (1, 0));
    let third = claim(store, T0 + 20).await.remove(0);
    assert_eq!((third.attempt_number, third.retry_index), (3, 2));
    store
        .record_outcomes(vec![outcome(&third, ACK, None, T0 + 21)])
        .await
        .expect("record");
    let done = store
        .retry_delivery_now(&first.event_id, at("delivery.retried", T0 + 30))
        .await;
    assert!(matches!(done, Err(StoreError::Conflict(_))), "{done:?}");
    let audit = store
        .list_audit(AuditQuery {
            action: Some("delivery.retried".into()),
            page: 1,
            size: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.total, 1, "only the retry that happened is audited");
}

pub async fn a_test_delivery_is_attempted_once_and_never_listed(store: &dyn Store) {
    let p = partner(store, "Tester").await;
    let m = map(
        store,
        &p,
        8,
        Some(1),
        EventType::OrderCreated,
        "https://t.example/",
    )
    .await;
    let event_id = IdKind::Event.generate();
    store
        .create_test_delivery(NewTestDelivery {
            event_id: event_id.clone(),
            partner_id: p.id.clone(),
            mapping_id: m.id.clone(),
            event_type: EventType::OrderCreated,
            brand_id: 8,
            branch_id: 1,
            order_id: -1,
            body: br#"{"brand_id":8,"branch_id":1,"orders":[{"id":-1}]}"#.to_vec(),
            now: T0,
        })
        .await
        .expect("test delivery");
    let claimed = claim(store, T0).await;
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].test, "claimed as a test");
    assert_eq!(claimed[0].url, "https://t.example/");
    store
        .record_outcomes(vec![outcome(&claimed[0], failure(), Some(T0 + 50), T0 + 1)])
        .await
        .expect("record");
    assert!(
        claim(store, T0 + 1_000_000).await.is_empty(),
        "attempted once"
    );
    let detail = store
        .get_delivery(&event_id)
        .await
        .expect("get")
        .expect("readable by id");
    assert_eq!(detail.summary.state, DeliveryState::Dead);
    assert_eq!(detail.attempts.len(), 1);
    let listed = store
        .list_deliveries(DeliveryFilter {
            partner_id: Some(p.id.clone()),
            limit: 10,
            ..DeliveryFilter::default()
        })
        .await
        .expect("list");
    assert!(listed.deliveries.is_empty(), "never listed");
    let replay = store
        .replay_delivery(&event_id, at("delivery.replayed", T0 + 2))
        .await;
    assert!(
        matches!(replay, Err(StoreError::NotFound { .. })),
        "{replay:?}"
    );
    let stats = store.delivery_stats().await.expect("stats");
    let mine = stats.iter().find(|s| s.partner_id == p.id).expect("stats");
    assert_eq!((mine.pending, mine.dead), (0, 0), "not counted");
}

pub async fn url_activity_shows_each_mapped_url_once_with_its_latest_attempt(store: &dyn Store) {
    let (p, first) = one_pending(store, "https://u.example/a").await;
    map(
        store,
        &p,
        7,
        Some(1),
        EventType::OrderStatusUpdated,
        "https://u.example/a",
    )
    .await;
    map(
        store,
        &p,
        7,
        Some(1),
        EventType::OrderCartUpdated,
        "https://u.example/b",
    )
    .await;
    let before = store.partner_url_activity(&p.id).await.expect("activity");
    assert_eq!(
        before.iter().map(|u| u.url.as_str()).collect::<Vec<_>>(),
        ["https://u.example/a", "https://u.example/b"]
    );
    assert_eq!(before[0].pending, 1);
    assert_eq!(before[0].last_attempt, None);
    store
        .record_outcomes(vec![outcome(&first, failure(), Some(T0 + 50), T0 + 1)])
        .await
        .expect("record");
    let second = claim(store, T0 + 50).await.remove(0);
    store
        .record_outcomes(vec![outcome(&second, ACK, None, T0 + 60)])
        .await
        .expect("record");
    let after = store.partner_url_activity(&p.id).await.expect("activity");
    assert_eq!(after[0].pending, 0);
    let last = after[0].last_attempt.clone().expect("an attempt");
    assert_eq!((last.status_code, last.started_at), (Some(200), T0 + 60));
    assert_eq!(after[0].last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(after[1].last_attempt, None);
    let other = partner(store, "Other").await;
    assert!(
        store
            .partner_url_activity(&other.id)
            .await
            .expect("none")
            .is_empty()
    );
}
