//! Leases that cannot be outlived, attempt numbers that never repeat, and claims that
//! skip whole hosts in the query.

use super::*;

/// One partner mapped for brand 1, branch `branch` → `url`, with `count` due deliveries
/// of one order each (ids from `first_id`), formed at T0.
async fn due_deliveries(
    store: &dyn Store,
    partner: &Partner,
    branch: i64,
    url: &str,
    first_id: i64,
    count: i64,
) {
    map(
        store,
        partner,
        1,
        Some(branch),
        EventType::OrderCreated,
        url,
    )
    .await;
    let items = (first_id..first_id + count)
        .map(|id| {
            item(
                EventType::OrderCreated,
                order(id, 1, branch, 1, "2026-01-01T00:00:00Z"),
            )
        })
        .collect();
    ingest(store, items, T0).await;
    let one_each = BatchLimits {
        max_orders: 1,
        max_bytes: 1 << 20,
    };
    store.form_deliveries(one_each, T0).await.expect("form");
}

fn attempt_numbers(detail: &DeliveryDetail) -> Vec<u32> {
    detail.attempts.iter().map(|a| a.attempt).collect()
}

pub async fn an_outcome_after_its_lease_was_replaced_moves_nothing(store: &dyn Store) {
    let p = partner(store, "A").await;
    due_deliveries(store, &p, 1, "https://a.example/", 1, 1).await;
    let first = claim(store, T0).await.remove(0);
    assert_eq!(first.attempt_number, 1);
    // The first attempt outlives its 30 s lease (say its outcome waited behind the
    // writer); the same process claims the delivery again.
    let second = claim(store, T0 + 30_000).await.remove(0);
    assert_eq!(second.event_id, first.event_id);
    assert_eq!(second.attempt_number, 2, "a new attempt gets a new number");
    assert_ne!(second.lease_token, first.lease_token);

    let stale = store
        .record_outcomes(vec![outcome(&first, ACK, None, T0 + 30_001)])
        .await
        .expect("record the late outcome");
    assert_eq!(stale, 1, "the late outcome is counted as stale");
    let detail = store
        .get_delivery(&first.event_id)
        .await
        .expect("read")
        .expect("delivery");
    assert_eq!(
        detail.summary.state,
        DeliveryState::Pending,
        "a stale outcome does not move the delivery"
    );
    assert_eq!(attempt_numbers(&detail), [1], "but its attempt is recorded");
    assert!(
        claim(store, T0 + 30_002).await.is_empty(),
        "the second lease still holds"
    );

    let stale = store
        .record_outcomes(vec![outcome(
            &second,
            failure(),
            Some(T0 + 40_000),
            T0 + 30_003,
        )])
        .await
        .expect("record the current outcome");
    assert_eq!(stale, 0);
    let detail = store
        .get_delivery(&first.event_id)
        .await
        .expect("read")
        .expect("delivery");
    assert_eq!(
        attempt_numbers(&detail),
        [1, 2],
        "both attempts kept, each under its own number"
    );
    assert_eq!(detail.attempts[0].status_code, Some(200));
    assert_eq!(detail.attempts[1].status_code, Some(500));
    assert_eq!(detail.summary.state, DeliveryState::Pending);
    assert_eq!(
        detail.summary.next_attempt_at,
        Some(T0 + 40_000),
        "moved by the current lease"
    );
    assert_eq!(detail.summary.attempt_count, 2, "never goes backwards");
    let third = claim(store, T0 + 40_000).await.remove(0);
    assert_eq!(third.attempt_number, 3);
    store
        .record_outcomes(vec![outcome(&third, ACK, None, T0 + 40_001)])
        .await
        .expect("record");
    let detail = store
        .get_delivery(&first.event_id)
        .await
        .expect("read")
        .expect("delivery");
    assert_eq!(detail.summary.state, DeliveryState::Delivered);
    assert_eq!(attempt_numbers(&detail), [1, 2, 3]);
}

pub async fn released_leases_give_their_attempt_number_back(store: &dyn Store) {
    let p = partner(store, "A").await;
    due_deliveries(store, &p, 1, "https://a.example/", 1, 1).await;
    let unstarted = claim(store, T0).await.remove(0);
    store
        .release_leases(&[HeldLease {
            event_id: unstarted.event_id.clone(),
            lease_token: unstarted.lease_token.clone(),
        }])
        .await
        .expect("release");
    let started = claim(store, T0 + 1).await.remove(0);
    assert_eq!(started.attempt_number, 1, "the unused number is given back");
    // A release whose lease was replaced changes nothing.
    store
        .release_leases(&[HeldLease {
            event_id: unstarted.event_id.clone(),
            lease_token: unstarted.lease_token.clone(),
        }])
        .await
        .expect("release");
    assert!(claim(store, T0 + 2).await.is_empty(), "still leased");
    store
        .record_outcomes(vec![outcome(&started, ACK, None, T0 + 3)])
        .await
        .expect("record");
    let detail = store
        .get_delivery(&started.event_id)
        .await
        .expect("read")
        .expect("delivery");
    assert_eq!(attempt_numbers(&detail), [1]);
    assert_eq!(detail.summary.state, DeliveryState::Delivered);
}

pub async fn claims_skip_saturated_hosts_in_the_query(store: &dyn Store) {
    // A POS with one URL per branch: 20 due deliveries spread over 10 URLs of one host,
    // all due before one delivery of another partner.
    let pos = partner(store, "POS").await;
    for branch in 1..=10 {
        let url = format!("https://pos.example/branch/{branch}");
        due_deliveries(store, &pos, branch, &url, branch * 100, 2).await;
    }
    let other = partner(store, "Other").await;
    map(
        store,
        &other,
        2,
        None,
        EventType::OrderCreated,
        "https://other.example/",
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(9_999, 2, 1, 1, "2026-01-01T00:00:00Z"),
        )],
        T0 + 1,
    )
    .await;
    store.form_deliveries(LIMITS, T0 + 1).await.expect("form");
    // One free worker: the query looks at 8 candidates. Admission would turn away
    // every POS delivery, whose host is at its share; the query must not offer them.
    let claimed = store
        .claim_due(ClaimRequest {
            saturated_hosts: vec!["pos.example:443".into()],
            accept: Box::new(|url| !url.contains("pos.example")),
            ..claim_request(T0 + 2, 1, vec![])
        })
        .await
        .expect("claim");
    let urls: Vec<&str> = claimed.iter().map(|d| d.url.as_str()).collect();
    assert_eq!(urls, ["https://other.example/"]);
}

pub async fn claims_can_be_limited_to_named_hosts(store: &dyn Store) {
    let p = partner(store, "A").await;
    due_deliveries(store, &p, 1, "https://slow.example/", 1, 3).await;
    due_deliveries(store, &p, 2, "https://fast.example:8443/", 10, 1).await;
    let claimed = store
        .claim_due(ClaimRequest {
            only_hosts: Some(vec!["fast.example:8443".into()]),
            ..claim_request(T0, 10, vec![])
        })
        .await
        .expect("claim");
    let urls: Vec<&str> = claimed.iter().map(|d| d.url.as_str()).collect();
    assert_eq!(urls, ["https://fast.example:8443/"]);
    let none = store
        .claim_due(ClaimRequest {
            only_hosts: Some(vec![]),
            ..claim_request(T0, 10, vec![])
        })
        .await
        .expect("claim");
    assert!(none.is_empty(), "no host named, nothing claimed");
    assert_eq!(claim(store, T0).await.len(), 3, "the rest is still due");
}

pub async fn a_mapping_keeps_its_host_when_its_url_changes(store: &dyn Store) {
    let p = partner(store, "A").await;
    due_deliveries(store, &p, 1, "https://old.example/hook", 1, 1).await;
    // The partner moves to a new host; the pending delivery goes there next.
    map(
        store,
        &p,
        1,
        Some(1),
        EventType::OrderCreated,
        "http://new.example:8080/hook",
    )
    .await;
    let skip_old = store
        .claim_due(ClaimRequest {
            saturated_hosts: vec!["old.example:443".into()],
            ..claim_request(T0, 10, vec![])
        })
        .await
        .expect("claim");
    assert_eq!(skip_old.len(), 1, "the old host no longer holds it");
    assert_eq!(skip_old[0].url, "http://new.example:8080/hook");
    store
        .release_leases(&[HeldLease {
            event_id: skip_old[0].event_id.clone(),
            lease_token: skip_old[0].lease_token.clone(),
        }])
        .await
        .expect("release");
    let skip_new = store
        .claim_due(ClaimRequest {
            saturated_hosts: vec!["new.example:8080".into()],
            ..claim_request(T0, 10, vec![])
        })
        .await
        .expect("claim");
    assert!(skip_new.is_empty(), "the new host does");
}
