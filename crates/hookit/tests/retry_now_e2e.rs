//! Retry now (issue 11, item 3), end to end: a pending delivery whose endpoint was
//! fixed is sent at once under the same event id, through the operator API and
//! `hookit deliveries retry`; refused while an attempt is in flight.

mod harness;

use harness::receiver::{Behaviour, Receiver};
use harness::{OPERATOR_TOKEN, Serve, order};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const WAIT: Duration = Duration::from_secs(15);

/// Fast ticks, but a failed attempt is retried only after an hour.
fn slow_retries() -> Vec<(&'static str, String)> {
    vec![
        ("HOOKIT_ALLOW_PRIVATE_TARGETS", "true".into()),
        ("HOOKIT_TICK", "20ms".into()),
        ("HOOKIT_RETRY_SCHEDULE", "1h,1h".into()),
        ("HOOKIT_ATTEMPT_TIMEOUT", "2s".into()),
        ("HOOKIT_CLAIM_LEASE", "3s".into()),
    ]
}

async fn failing_delivery(
    serve: &Serve,
    receiver: &Receiver,
    name: &str,
    brand: i64,
    failing: Behaviour,
) -> (String, String) {
    let path = format!("/{name}");
    receiver.set(&path, failing);
    let (partner, _, _) = serve.create_partner(name).await;
    serve
        .map(&partner, brand, Some(1), CREATED, &receiver.url(&path))
        .await;
    assert_eq!(
        serve
            .ingest(CREATED, order(brand * 100 + 1, brand, 1, 1))
            .await
            .0,
        202
    );
    let first = receiver.wait_for(&path, 1, WAIT).await;
    let event_id = first[0].event_id().to_owned();
    serve
        .wait_delivery(&event_id, WAIT, |d| {
            d["attempts"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    (partner, event_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fixed_endpoint_gets_its_pending_delivery_now_under_the_same_event_id() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &slow_retries());
    let receiver = Receiver::start().await;

    // One by event id, through the API.
    // (A redirect: its error is longer than a table cell.)
    let (_, event_id) =
        failing_delivery(&serve, &receiver, "fixed", 61, Behaviour::Status(307)).await;
    let waiting = serve.delivery(&event_id).await;
    assert_eq!(waiting["state"], "pending");
    // `deliveries show` prints the whole error and the headers sent, not the signature.
    let shown = hookit(&serve, &["deliveries", "show", &event_id]).await;
    assert!(
        shown.contains("redirects are never followed, map the final URL instead"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("x-klikit-event-id: {event_id}")),
        "{shown}"
    );
    assert!(
        shown.contains("x-klikit-event-type: klikit.order.created.v2"),
        "{shown}"
    );
    assert!(shown.contains("x-klikit-signature: (not shown"), "{shown}");
    receiver.set("/fixed", Behaviour::Ok);
    let (status, retried) = serve
        .operator(Method::POST, &format!("/deliveries/{event_id}/retry"), None)
        .await;
    assert_eq!(status, 200, "{retried}");
    let arrived = receiver.wait_for("/fixed", 2, WAIT).await;
    assert_eq!(arrived[1].event_id(), event_id, "same event id");
    assert_eq!(
        arrived[1].header("x-klikit-delivery-attempt"),
        "2",
        "counted"
    );
    assert_eq!(arrived[1].body, arrived[0].body, "same bytes");
    serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "delivered")
        .await;
    let (status, done) = serve
        .operator(Method::POST, &format!("/deliveries/{event_id}/retry"), None)
        .await;
    assert_eq!(
        (status, done["error"]["code"].clone()),
        (409, json!("state_conflict"))
    );

    // Refused while an attempt is in flight.
    receiver.set("/hanging", Behaviour::Hang);
    let (partner, _, _) = serve.create_partner("hanging").await;
    serve
        .map(&partner, 62, Some(1), CREATED, &receiver.url("/hanging"))
        .await;
    assert_eq!(serve.ingest(CREATED, order(6201, 62, 1, 1)).await.0, 202);
    let hanging = receiver.wait_for("/hanging", 1, WAIT).await;
    let (status, busy) = serve
        .operator(
            Method::POST,
            &format!("/deliveries/{}/retry", hanging[0].event_id()),
            None,
        )
        .await;
    assert_eq!(
        (status, busy["error"]["code"].clone()),
        (409, json!("state_conflict")),
        "{busy}"
    );
    assert!(
        busy["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("in flight")),
        "{busy}"
    );

    // Every pending one of a partner, through the CLI.
    let (partner, event_id) =
        failing_delivery(&serve, &receiver, "bulk", 63, Behaviour::FailAll).await;
    receiver.set("/bulk", Behaviour::Ok);
    let stdout = hookit(&serve, &["deliveries", "retry", "--partner", &partner]).await;
    assert!(
        stdout.contains("Retrying 1 pending delivery now."),
        "{stdout}"
    );
    let arrived = receiver.wait_for("/bulk", 2, WAIT).await;
    assert_eq!(arrived[1].event_id(), event_id);
    let (_, audit) = serve
        .operator(Method::GET, "/audit?action=deliveries.retried", None)
        .await;
    assert_eq!(audit["data"]["total"], 1, "{audit}");
}

/// Runs `hookit <args>` against `serve`; asserts success and returns stdout.
async fn hookit(serve: &Serve, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookit"))
        .args(args)
        .env_clear()
        .env("HOOKIT_SERVER", &serve.base)
        .env("HOOKIT_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .output()
        .await
        .expect("run hookit");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
