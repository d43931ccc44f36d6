//! What counts as stale, over real HTTP: only klikit's platform clock decides, a record
//! without `updated_at` still guards against late pushes, and a date far ahead is
//! refused.

mod harness;

use harness::partner_client::{call, onboard};
use harness::receiver::{Received, Receiver};
use harness::{Serve, fast_env, order};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const STATUS: &str = "klikit.order.status.updated";
const WAIT: Duration = Duration::from_secs(15);

fn first_order(received: &Received) -> Value {
    received.json()["orders"][0].clone()
}

fn now_text(offset: chrono::Duration) -> String {
    (chrono::Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_dated_2001_after_a_record_without_updated_at_is_ignored() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, None, STATUS, &receiver.url("/s"))
        .await;

    let mut undated = order(7001, 1, 2, 1);
    undated
        .as_object_mut()
        .expect("object")
        .remove("updated_at");
    let (status, first) = serve.ingest(STATUS, undated).await;
    assert_eq!(
        (status, first["data"]["result"].clone()),
        (202, json!("stored"))
    );

    let mut late = order(7001, 1, 2, 3);
    late["updated_at"] = json!("2001-01-01T00:00:00Z");
    let (status, ignored) = serve.ingest(STATUS, late).await;
    assert_eq!(status, 202, "{ignored}");
    assert_eq!(ignored["data"]["result"], "ignored_stale", "{ignored}");
    assert_eq!(ignored["data"]["version"], 1);

    let mut current = order(7001, 1, 2, 2);
    current["updated_at"] = json!(now_text(chrono::Duration::zero()));
    let (status, stored) = serve.ingest(STATUS, current).await;
    assert_eq!((status, stored["data"]["version"].clone()), (202, json!(2)));

    // Events of one order arrive in order, so had the 2001 push been stored it would
    // have come second; the second webhook is the current push.
    let got = receiver.wait_for("/s", 2, WAIT).await;
    let seen: Vec<(Value, Value)> = got
        .iter()
        .map(first_order)
        .map(|o| (o["version"].clone(), o["status"].clone()))
        .collect();
    assert_eq!(seen[..2], [(json!(1), json!(1)), (json!(2), json!(2))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_partners_occurred_at_of_2099_klikits_next_push_is_delivered() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, None, STATUS, &receiver.url("/s"))
        .await;
    serve.ingest(CREATED, order(7002, 1, 2, 1)).await;

    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let change = json!({ "status": "accepted", "occurred_at": "2099-01-01T00:00:00Z" });
    let (status, accepted) = call(
        &serve,
        &creds,
        Method::PATCH,
        "/orders/7002/status",
        Some("accept-7002"),
        Some(change),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    let record = &accepted["data"];
    assert_eq!(record["occurred_at"], "2099-01-01T00:00:00Z", "kept apart");
    let updated: chrono::DateTime<chrono::Utc> = record["updated_at"]
        .as_str()
        .expect("updated_at")
        .parse()
        .expect("RFC 3339");
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert!(
        before <= updated && updated <= after,
        "updated_at is hookit's time of the change, not the partner's: {updated}"
    );

    // klikit's next push, by klikit's clock (days before the partner's 2099).
    let (status, pushed) = serve.ingest(STATUS, order(7002, 1, 2, 4)).await;
    assert_eq!(status, 202, "{pushed}");
    assert_eq!(pushed["data"]["result"], "stored", "{pushed}");
    assert_eq!(pushed["data"]["version"], 3);
    let got = receiver.wait_for("/s", 2, WAIT).await;
    let last = first_order(&got[1]);
    assert_eq!(
        (last["version"].clone(), last["status"].clone()),
        (json!(3), json!(4))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_updated_at_far_ahead_of_the_clock_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());

    let mut frozen = order(7003, 1, 2, 1);
    frozen["updated_at"] = json!("9999-12-31T00:00:00Z");
    let (status, body) = serve.ingest(CREATED, frozen.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "request_invalid");
    assert_eq!(body["error"]["details"]["field"], "order.updated_at");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("9999-12-31T00:00:00Z"), "{message}");

    let (status, body) = serve
        .ingest_batch(vec![
            json!({ "event": CREATED, "order": order(7004, 1, 2, 1) }),
            json!({ "event": CREATED, "order": frozen }),
        ])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["details"]["field"],
        "items[1].order.updated_at"
    );

    // Ahead by less than a day is a clock that is off, not a frozen order: accepted.
    let mut ahead = order(7005, 1, 2, 1);
    ahead["updated_at"] = json!(now_text(chrono::Duration::hours(20)));
    let (status, body) = serve.ingest(CREATED, ahead).await;
    assert_eq!(
        (status, body["data"]["result"].clone()),
        (202, json!("stored"))
    );
    // Nothing of the refused batch was written: its first order is new.
    let (status, body) = serve.ingest(CREATED, order(7004, 1, 2, 1)).await;
    assert_eq!(
        (status, body["data"]["version"].clone()),
        (202, json!(1)),
        "{body}"
    );
}
