//! Several changes of one order in one push: each applies to the state the previous
//! one left (versions, staleness), and each waits in line behind the earlier one, as
//! if they had come in separate pushes.

use super::*;

pub async fn changes_of_one_order_in_one_push_are_versioned_and_wait_in_line(store: &dyn Store) {
    let p = partner(store, "A").await;
    for (event, url) in [
        (EventType::OrderCreated, "https://a.example/created"),
        (EventType::OrderStatusUpdated, "https://a.example/status"),
    ] {
        map(store, &p, 1, None, event, url).await;
    }
    let created = EventType::OrderCreated;
    let status = EventType::OrderStatusUpdated;
    let pushed = ingest(
        store,
        vec![
            item(created, order(7, 1, 2, 1, "2026-01-01T10:00:00Z")),
            item(created, order(9, 1, 3, 1, "2026-01-01T10:00:00Z")),
            item(status, order(7, 1, 2, 2, "2026-01-01T10:01:00Z")),
            item(status, order(9, 1, 3, 2, "2026-01-01T10:01:00Z")),
            // Older than the item before it in this same push.
            item(status, order(7, 1, 2, 3, "2026-01-01T09:00:00Z")),
            item(status, order(7, 1, 2, 4, "2026-01-01T10:02:00Z")),
        ],
        T0,
    )
    .await;
    let seen: Vec<(i64, &str, i64, u64)> = pushed
        .results
        .iter()
        .map(|r| (r.order_id, r.result.as_str(), r.version, r.routed_to))
        .collect();
    assert_eq!(
        seen,
        vec![
            (7, "stored", 1, 1),
            (9, "stored", 1, 1),
            (7, "stored", 2, 1),
            (9, "stored", 2, 1),
            (7, "ignored_stale", 2, 0),
            (7, "stored", 3, 1),
        ]
    );
    let stored = store.get_order(7).await.expect("get").expect("exists");
    assert_eq!(stored.version, 3);
    let record: Value = serde_json::from_slice(&stored.record).expect("json");
    assert_eq!(record["status"], 4);

    // Each round, only every order's next change goes out; both orders' successors
    // are promoted by one recorded batch of outcomes.
    let expected_rounds = [
        (created, vec![(7, 1), (9, 1)]),
        (status, vec![(7, 2), (9, 2)]),
        (status, vec![(7, 3)]),
    ];
    let mut now = T0 + 1;
    for (event, versions) in expected_rounds {
        store.form_deliveries(LIMITS, now).await.expect("form");
        let claimed = claim(store, now).await;
        let mut got: Vec<(i64, i64)> = claimed
            .iter()
            .flat_map(|d| {
                assert_eq!(d.event_type, event);
                body_json(d)["orders"]
                    .as_array()
                    .expect("orders")
                    .iter()
                    .map(|o| {
                        (
                            o["id"].as_i64().expect("id"),
                            o["version"].as_i64().expect("version"),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, versions, "round of {event:?}");
        let acks = claimed.iter().map(|d| outcome(d, ACK, None, now)).collect();
        assert_eq!(store.record_outcomes(acks).await.expect("record"), 0);
        now += 1;
    }
    store.form_deliveries(LIMITS, now).await.expect("form");
    assert!(claim(store, now).await.is_empty(), "nothing is left");
}
