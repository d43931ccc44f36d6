//! Checks of what counts as stale and of which orders a partner's list shows, with
//! explicit clocks.

use super::*;

/// An order without `updated_at` (and without `placed_at`).
fn undated(id: i64, status: i64) -> Order {
    let mut o = order(id, 1, 2, status, "2026-01-01T00:00:00Z");
    o.updated_at = None;
    o
}

fn dated(id: i64, status: i64, updated_at: Millis) -> Order {
    order(id, 1, 2, status, &rfc3339(updated_at))
}

async fn push(store: &dyn Store, o: Order, now: Millis) -> IngestItemResult {
    let mut outcome = ingest(store, vec![item(EventType::OrderStatusUpdated, o)], now).await;
    outcome.results.remove(0)
}

pub async fn a_push_dated_long_ago_is_stale_after_a_record_without_updated_at(store: &dyn Store) {
    assert_eq!(push(store, undated(21, 1), T0).await.result, "stored");
    let ancient = order(21, 1, 2, 3, "2001-01-01T00:00:00Z");
    let late = push(store, ancient, T0 + 1_000).await;
    assert_eq!(
        (late.result.as_str(), late.version),
        ("ignored_stale", 1),
        "older than when the stored record arrived"
    );
    // Dated within the skew before the stored record's arrival: the clocks may
    // disagree that much, so it is not stale.
    let close = push(store, dated(21, 2, T0 - 5_000), T0 + 2_000).await;
    assert_eq!((close.result.as_str(), close.version), ("stored", 2));
    let record: Value = serde_json::from_slice(
        &store
            .get_order(21)
            .await
            .expect("get")
            .expect("order")
            .record,
    )
    .expect("json");
    assert_eq!(record["status"], 2);
}

pub async fn a_push_without_updated_at_keeps_the_stored_time(store: &dyn Store) {
    let platform_time = T0 - 60_000;
    assert_eq!(
        push(store, dated(22, 1, platform_time), T0).await.result,
        "stored"
    );
    assert_eq!(push(store, undated(22, 2), T0 + 1).await.result, "stored");
    // The stored platform time survived the undated push: an older one is stale.
    let older = push(store, dated(22, 3, platform_time - 1), T0 + 2).await;
    assert_eq!((older.result.as_str(), older.version), ("ignored_stale", 2));
    let newer = push(store, dated(22, 4, platform_time + 1), T0 + 3).await;
    assert_eq!((newer.result.as_str(), newer.version), ("stored", 3));
    // An undated push arriving well before a stored platform time (a clock far ahead,
    // within what ingest accepts) is stale; within the skew it is not.
    assert_eq!(
        push(store, dated(23, 1, T0 + 60_000), T0).await.result,
        "stored"
    );
    assert_eq!(
        push(store, undated(23, 2), T0 + 1).await.result,
        "ignored_stale"
    );
    assert_eq!(
        push(store, undated(23, 2), T0 + 55_000).await.result,
        "stored"
    );
}

pub async fn a_partners_time_never_makes_the_platforms_push_stale(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderStatusUpdated,
        "https://a.example/",
    )
    .await;
    assert_eq!(push(store, dated(24, 1, T0), T0).await.result, "stored");
    // The partner's record carries a time far ahead (a POS clock set to 2099).
    let mut accepted = order(24, 1, 2, 2, "2099-01-01T00:00:00Z");
    accepted.version = Some(2);
    store
        .commit_partner_change(PartnerOrderChange {
            partner_id: p.id.clone(),
            expected_version: 1,
            order: accepted,
            event_type: EventType::OrderStatusUpdated,
            idempotency_scope: format!("partner:{}", p.id),
            idempotency_key: "accept-24".into(),
            answer: StoredAnswer {
                request_digest: "d".into(),
                status: 200,
                body: b"{}".to_vec(),
            },
            now: T0 + 1_000,
        })
        .await
        .expect("commit");
    let next = push(store, dated(24, 4, T0 + 2_000), T0 + 2_000).await;
    assert_eq!(
        (next.result.as_str(), next.version, next.routed_to),
        ("stored", 3, 1),
        "klikit's next push is newer than klikit's last one"
    );
    let stale = push(store, dated(24, 1, T0 - 1), T0 + 3_000).await;
    assert_eq!(
        stale.result, "ignored_stale",
        "klikit's own time still counts"
    );
}

pub async fn orders_without_placed_at_are_listed_by_first_ingest(store: &dyn Store) {
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
    const DAY: Millis = 86_400_000;
    let placed = |id: i64, placed_at: Millis| {
        let mut o = dated(id, 1, placed_at);
        o.placed_at = Some(klikit_webhook::Timestamp::parse(&rfc3339(placed_at)).expect("time"));
        o
    };
    // Order 31 has no placed_at: it is listed by when hookit first stored it (T0),
    // not by its later updates.
    push(store, undated(31, 1), T0).await;
    push(store, undated(31, 2), T0 + 40 * DAY).await;
    push(store, placed(32, T0 - DAY), T0).await;
    push(store, placed(33, T0 + DAY), T0).await;
    let list = |from: Millis, to: Millis| {
        store.list_orders_for_partner(PartnerOrderQuery {
            partner_id: p.id.clone(),
            placed_from: from,
            placed_to: to,
            status: None,
            branch_id: None,
            page: 1,
            size: 10,
        })
    };
    let ids = |page: OrderPage| -> Vec<i64> {
        page.records
            .iter()
            .map(|r| {
                serde_json::from_slice::<Value>(r).expect("json")["id"]
                    .as_i64()
                    .expect("id")
            })
            .collect()
    };
    let all = list(T0 - 2 * DAY, T0 + 2 * DAY).await.expect("list");
    assert_eq!(all.total, 3);
    assert_eq!(ids(all), [33, 31, 32], "newest listed time first");
    let around_first_ingest = list(T0, T0 + 1).await.expect("list");
    assert_eq!(ids(around_first_ingest), [31]);
    let around_last_update = list(T0 + 39 * DAY, T0 + 41 * DAY).await.expect("list");
    assert_eq!(
        around_last_update.total, 0,
        "a later update does not move it"
    );
}
