//! Webhook-secret rotation with a grace window, end to end: a real `hookit serve`, a
//! real receiver, and the signatures checked with the partner's secrets.
//!
//! The receiver refuses every attempt (500) until one arrives signed with the new
//! secret, so a single delivery is retried across the switch: its attempts show which
//! secret signed before and after it.

mod harness;

use harness::receiver::{Behaviour, Received, Receiver};
use harness::{Serve, fast_env, order};
use klikit_webhook::verify;
use serde_json::{Value, json};
use std::time::Duration;

const STATUS: &str = "klikit.order.status.updated";
const WAIT: Duration = Duration::from_secs(30);

/// Retries every 200 ms (±20 %) for about 12 s, so attempts straddle a short grace.
fn retrying_env() -> Vec<(&'static str, String)> {
    let mut env = fast_env();
    env.retain(|(name, _)| *name != "HOOKIT_RETRY_SCHEDULE");
    env.push(("HOOKIT_RETRY_SCHEDULE", vec!["200ms"; 60].join(",")));
    env
}

async fn rotate(serve: &Serve, partner: &str, body: Option<Value>) -> (u16, Value) {
    serve
        .operator(
            reqwest::Method::POST,
            &format!("/partners/{partner}/webhook-secret/rotate"),
            body,
        )
        .await
}

async fn rotated(serve: &Serve, partner: &str, grace: Option<&str>) -> (String, i64) {
    let body = grace.map(|grace| json!({ "grace": grace }));
    let (status, answer) = rotate(serve, partner, body).await;
    assert_eq!(status, 200, "{answer}");
    let data = &answer["data"];
    let secret = data["webhook_secret_key"].as_str().expect("secret");
    assert!(secret.starts_with("whsk_"));
    let switch_at = millis_of(&data["switch_at"]);
    (secret.to_owned(), switch_at)
}

/// A time the API answers with (RFC 3339), in milliseconds since the epoch.
fn millis_of(time: &Value) -> i64 {
    time.as_str()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.timestamp_millis())
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {time}"))
}

fn signed_with(request: &Received, secret: &str) -> bool {
    verify(
        secret.as_bytes(),
        &request.body,
        Some(request.header("x-klikit-signature")),
    )
    .is_ok()
}

#[tokio::test]
async fn a_grace_rotation_signs_with_the_old_secret_until_the_switch_then_the_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &retrying_env());
    let receiver = Receiver::start().await;
    let (partner, old, _) = serve.create_partner("Rotating").await;
    serve
        .map(&partner, 1, Some(10), STATUS, &receiver.url("/hooks"))
        .await;
    receiver.set("/hooks", Behaviour::FailAll);

    let (new, switch_at) = rotated(&serve, &partner, Some("2000ms")).await;
    let before_switch = switch_at - harness::now_millis();
    assert!(
        before_switch <= 2_000,
        "the switch is 2 s after the rotation: {before_switch} ms left"
    );
    let (status, answer) = serve.ingest(STATUS, order(41, 1, 10, 2)).await;
    assert_eq!(status, 202, "{answer}");

    // Wait on what the receiver got: an attempt signed with the new secret.
    let first = harness::eventually(WAIT, "an attempt signed with the new secret", || {
        let got = receiver.on("/hooks");
        got.iter().any(|r| signed_with(r, &new)).then_some(got)
    })
    .await;
    receiver.set("/hooks", Behaviour::Ok);
    let event_id = first[0].event_id().to_owned();
    serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "delivered")
        .await;
    serve.settled_attempts(&receiver, &event_id).await;
    let attempts = receiver.on("/hooks");
    let delivery = serve.delivery(&event_id).await;
    let started = |number: u64| {
        delivery["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .find(|a| a["attempt"] == json!(number))
            .map(|a| harness::epoch_millis(&a["started_at"]))
            .expect("the attempt is recorded")
    };
    let mut switched = false;
    for request in &attempts {
        assert_eq!(request.event_id(), event_id, "one delivery, retried");
        let number: u64 = request
            .header("x-klikit-delivery-attempt")
            .parse()
            .expect("n");
        let (by_old, by_new) = (signed_with(request, &old), signed_with(request, &new));
        assert!(
            by_old != by_new,
            "attempt {number}: exactly one secret verifies"
        );
        if by_old {
            assert!(
                !switched,
                "attempt {number}: the old secret again after the switch"
            );
            assert!(
                started(number) < switch_at,
                "attempt {number} started at {}, after the switch at {switch_at}, \
                 yet was signed with the old secret",
                started(number)
            );
        }
        switched |= by_new;
    }
    assert!(
        signed_with(&attempts[0], &old),
        "the first attempt, made during the grace window, is signed with the old secret"
    );

    // After the switch every delivery is signed with the new secret.
    serve.ingest(STATUS, order(42, 1, 10, 2)).await;
    let later = harness::eventually(WAIT, "the next order's delivery", || {
        receiver
            .on("/hooks")
            .into_iter()
            .find(|r| r.order_ids() == vec![42])
    })
    .await;
    assert!(signed_with(&later, &new) && !signed_with(&later, &old));
}

#[tokio::test]
async fn a_rotation_inside_a_grace_window_ends_it_and_bad_graces_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let (partner, first, _) = serve.create_partner("Twice").await;
    serve
        .map(&partner, 1, Some(10), STATUS, &receiver.url("/hooks"))
        .await;

    for (grace, problem) in [
        (json!("8d"), "longer than the longest grace window (7d)"),
        (json!("169h"), "longer than the longest grace window (7d)"),
        (json!("soon"), "does not start with a whole number"),
        (json!(24), "invalid type"),
    ] {
        let (status, answer) = rotate(&serve, &partner, Some(json!({ "grace": grace }))).await;
        assert_eq!(status, 400, "{grace}: {answer}");
        assert_eq!(answer["error"]["code"], "request_invalid");
        assert_eq!(answer["error"]["details"]["field"], "grace", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(problem), "{grace}: {message}");
    }
    let (status, answer) = rotate(&serve, &partner, Some(json!({ "grase": "1h" }))).await;
    assert_eq!(status, 400, "an unknown field: {answer}");

    // A refused rotation changed nothing: the first secret still signs.
    serve.ingest(STATUS, order(51, 1, 10, 2)).await;
    let got = receiver.wait_for("/hooks", 1, WAIT).await;
    assert!(
        signed_with(&got[0], &first),
        "refused rotations change nothing"
    );

    let (second, _) = rotated(&serve, &partner, Some("7d")).await;
    let (third, switch_at) = rotated(&serve, &partner, Some("1h")).await;
    assert!(switch_at > harness::now_millis() + 3_500_000);
    let (status, shown) = serve
        .operator(reqwest::Method::GET, &format!("/partners/{partner}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        millis_of(&shown["data"]["webhook_secret_switch_at"]),
        switch_at
    );

    serve.ingest(STATUS, order(52, 1, 10, 2)).await;
    let got = receiver.wait_for("/hooks", 2, WAIT).await;
    let during = got.iter().find(|r| r.order_ids() == vec![52]).expect("52");
    assert!(
        signed_with(during, &second),
        "the first window ended at the second rotation: its new secret signs now"
    );
    assert!(!signed_with(during, &first) && !signed_with(during, &third));

    // Without a grace the very next delivery is signed with the new secret.
    let (fourth, switched) = rotated(&serve, &partner, None).await;
    assert!(switched <= harness::now_millis());
    serve.ingest(STATUS, order(53, 1, 10, 2)).await;
    let got = receiver.wait_for("/hooks", 3, WAIT).await;
    let after = got.iter().find(|r| r.order_ids() == vec![53]).expect("53");
    assert!(signed_with(after, &fourth) && !signed_with(after, &third));
    let (_, shown) = serve
        .operator(reqwest::Method::GET, &format!("/partners/{partner}"), None)
        .await;
    assert_eq!(shown["data"]["webhook_secret_switch_at"], Value::Null);
}
