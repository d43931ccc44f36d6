//! A record is stored once, in its change: the order's latest record and every
//! delivery's body are read from the changes, and a delivery's bytes stay what they
//! were when it was formed, whatever happens to its orders afterwards.

use super::*;
use klikit_webhook::EventType;

pub async fn a_delivery_keeps_its_bytes_after_its_orders_change(store: &dyn Store) {
    let p = partner(store, "A").await;
    for event in [EventType::OrderCreated, EventType::OrderStatusUpdated] {
        map(store, &p, 663, Some(1062), event, "https://a.example/").await;
    }
    // Three orders in one push, not in id order: the body lists them as queued.
    let created = [3, 1, 2]
        .into_iter()
        .map(|id| {
            item(
                EventType::OrderCreated,
                order(id, 663, 1062, 1, "2026-01-01T00:00:00Z"),
            )
        })
        .collect();
    ingest(store, created, T0).await;
    assert_eq!(
        store.form_deliveries(LIMITS, T0 + 10).await.expect("form"),
        1
    );
    let first = claim(store, T0 + 10).await.remove(0);
    assert_eq!(order_ids(&first), [3, 1, 2]);
    let text = String::from_utf8(first.body.clone()).expect("utf8");
    assert!(
        text.starts_with(r#"{"brand_id":663,"branch_id":1062,"orders":[{"id":3,"#),
        "{text}"
    );
    assert!(text.ends_with("}]}"), "{text}");

    // Order 1 moves on while the delivery is still pending.
    ingest(
        store,
        vec![item(
            EventType::OrderStatusUpdated,
            order(1, 663, 1062, 4, "2026-01-01T00:05:00Z"),
        )],
        T0 + 20,
    )
    .await;
    let latest = store.get_order(1).await.expect("get").expect("order 1");
    assert_eq!(latest.version, 2);
    let latest: Value = serde_json::from_slice(&latest.record).expect("record json");
    assert_eq!(latest["status"], 4);
    assert_eq!(latest["version"], 2);

    // The pending delivery still carries version 1 of order 1, byte for byte: on its
    // page, and on the next attempt.
    let shown = store
        .get_delivery(&first.event_id)
        .await
        .expect("get")
        .expect("delivery");
    assert_eq!(shown.body.as_bytes(), first.body.as_slice());
    store
        .record_outcomes(vec![outcome(&first, failure(), Some(T0 + 30), T0 + 21)])
        .await
        .expect("record");
    let again = claim(store, T0 + 30).await;
    let again = again
        .iter()
        .find(|d| d.event_id == first.event_id)
        .expect("retried");
    assert_eq!(again.body, first.body, "every attempt sends the same bytes");
    assert_eq!(body_json(again)["orders"][1]["version"], 1);

    // Acknowledged, the next change of order 1 goes out with its own record.
    store
        .record_outcomes(vec![outcome(again, ACK, None, T0 + 31)])
        .await
        .expect("record");
    assert_eq!(
        store.form_deliveries(LIMITS, T0 + 40).await.expect("form"),
        1
    );
    let next = claim(store, T0 + 40).await.remove(0);
    assert_eq!(order_ids(&next), [1]);
    assert_eq!(body_json(&next)["orders"][0]["version"], 2);
    assert_eq!(body_json(&next)["orders"][0]["status"], 4);
}
