//! Diagnose from the partner's side (issue 11, item 9), end to end: a partner sees how
//! each of its URLs is doing, lists and reads its own deliveries with their attempts,
//! and replays its own dead ones; another partner's event ids are not found.

mod harness;

use harness::partner_client::{self, Creds};
use harness::receiver::{Behaviour, Receiver};
use harness::{Serve, fast_env, order};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const WAIT: Duration = Duration::from_secs(15);

async fn get(serve: &Serve, creds: &Creds, path: &str) -> (u16, Value) {
    partner_client::call(serve, creds, Method::GET, path, None, None).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_diagnoses_its_own_deliveries_and_replays_a_dead_one() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    receiver.set("/down", Behaviour::FailAll);
    let alpha = partner_client::onboard(&serve, "Alpha").await;
    let beta = partner_client::onboard(&serve, "Beta").await;
    serve
        .map(&alpha.id, 51, Some(1), CREATED, &receiver.url("/down"))
        .await;
    serve
        .map(&beta.id, 52, Some(1), CREATED, &receiver.url("/beta"))
        .await;
    assert_eq!(serve.ingest(CREATED, order(5101, 51, 1, 1)).await.0, 202);
    assert_eq!(serve.ingest(CREATED, order(5201, 52, 1, 1)).await.0, 202);

    // Three failed attempts (the schedule has two retries), then dead.
    let dead = harness::eventually_async(WAIT, || async {
        let (status, page) = get(&serve, &alpha, "/deliveries?state=dead").await;
        assert_eq!(status, 200, "{page}");
        page["data"]["deliveries"]
            .as_array()
            .filter(|list| !list.is_empty())
            .map(|list| list[0].clone())
    })
    .await;
    let event_id = dead["event_id"].as_str().expect("event id").to_owned();
    assert_eq!(dead["order_ids"], json!([5101]));
    assert_eq!(dead["dead_reason"], "retries_exhausted");

    // How the URL is doing.
    let (status, webhooks) = get(&serve, &alpha, "/webhooks").await;
    assert_eq!(status, 200, "{webhooks}");
    let urls = webhooks["data"]["urls"].as_array().expect("urls");
    assert_eq!(urls.len(), 1, "{webhooks}");
    assert_eq!(urls[0]["url"], receiver.url("/down"));
    assert_eq!(urls[0]["state"], "healthy");
    assert_eq!(urls[0]["pending"], 0);
    assert_eq!(urls[0]["last_attempt"]["status_code"], 500, "{webhooks}");
    assert!(urls[0]["last_attempt"]["latency_ms"].as_i64().is_some());
    assert!(
        urls[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{webhooks}"
    );
    assert!(urls[0]["since"].as_str().is_some(), "{webhooks}");
    assert!(
        webhooks["data"]["mappings"]
            .as_array()
            .is_some_and(|m| m.len() == 1)
    );

    // One delivery with its attempts.
    let (status, detail) = get(&serve, &alpha, &format!("/deliveries/{event_id}")).await;
    assert_eq!(status, 200, "{detail}");
    let attempts = detail["data"]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3, "{detail}");
    assert!(attempts.iter().all(|a| a["status_code"] == 500), "{detail}");
    assert!(
        detail["data"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("5101"))
    );

    // Filters narrow; a bad one is named.
    for (query, expected) in [
        ("?order_id=5101", 1),
        ("?order_id=5201", 0),
        ("?state=delivered", 0),
        ("?event_type=klikit.order.status.updated", 0),
        ("?event_type=klikit.order.created.v2&state=dead", 1),
    ] {
        let (status, page) = get(&serve, &alpha, &format!("/deliveries{query}")).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(
            page["data"]["deliveries"].as_array().map(Vec::len),
            Some(expected),
            "{query}: {page}"
        );
    }
    let (status, bad) = get(&serve, &alpha, "/deliveries?state=lost").await;
    assert_eq!(
        (status, bad["error"]["details"]["field"].clone()),
        (400, json!("state"))
    );

    // Another partner's event id is simply not found.
    let (status, hidden) = get(&serve, &beta, &format!("/deliveries/{event_id}")).await;
    assert_eq!(
        (status, hidden["error"]["code"].clone()),
        (404, json!("resource_not_found"))
    );
    let (status, hidden) = partner_client::call(
        &serve,
        &beta,
        Method::POST,
        &format!("/deliveries/{event_id}/replay"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, hidden["error"]["code"].clone()),
        (404, json!("resource_not_found"))
    );
    let (_, beta_page) = get(&serve, &beta, "/deliveries").await;
    assert!(
        !beta_page.to_string().contains(&event_id),
        "a partner lists only its own deliveries: {beta_page}"
    );

    // The partner replays its own dead delivery once its endpoint is fixed: same id.
    receiver.set("/down", Behaviour::Ok);
    let (status, replayed) = partner_client::call(
        &serve,
        &alpha,
        Method::POST,
        &format!("/deliveries/{event_id}/replay"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["data"]["state"], "pending");
    let arrived = receiver.wait_for("/down", 4, WAIT).await;
    assert!(arrived.iter().all(|r| r.event_id() == event_id));
    assert_eq!(arrived[3].answered, 200);
    serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "delivered")
        .await;
    let (status, again) = partner_client::call(
        &serve,
        &alpha,
        Method::POST,
        &format!("/deliveries/{event_id}/replay"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].clone()),
        (409, json!("state_conflict"))
    );

    // Audited as the partner.
    let (_, audit) = serve
        .operator(Method::GET, "/audit?action=delivery.replayed", None)
        .await;
    let entries = audit["data"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], format!("partner:{}", alpha.id));
    assert_eq!(entries[0]["target"], event_id);
}
