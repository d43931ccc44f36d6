//! Operator tokens, the audit log and `/metrics` over real HTTP.

mod harness;

use harness::receiver::{Behaviour, Receiver};
use harness::{Serve, fast_env, order};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";

#[tokio::test(flavor = "multi_thread")]
async fn named_tokens_act_under_their_name_and_revocation_is_immediate() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let (status, minted) = serve
        .operator(Method::POST, "/tokens", Some(json!({ "name": "alice" })))
        .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["data"]["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("hkop_"));
    let (status, again) = serve
        .operator(Method::POST, "/tokens", Some(json!({ "name": "alice" })))
        .await;
    assert_eq!(status, 409, "{again}");
    for bad in [
        json!({ "name": "root" }),
        json!({ "name": "Has Spaces" }),
        json!({}),
    ] {
        let (status, _) = serve
            .operator(Method::POST, "/tokens", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}");
    }

    let (status, created) = serve
        .call(
            Method::POST,
            "/v1/operator/partners",
            Some(&token),
            Some(json!({ "name": "Acme" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let partner = created["data"]["id"].as_str().expect("id").to_owned();
    let (_, list) = serve.operator(Method::GET, "/tokens", None).await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["root", "alice"]);
    assert_eq!(list["data"][0]["source"], "configuration");
    assert_eq!(list["data"][1]["source"], "minted");
    assert_eq!(list["data"][1]["created_by"], "root");
    assert!(
        !list.to_string().contains(&token),
        "listing never shows a token"
    );

    let (status, _) = serve.operator(Method::DELETE, "/tokens/alice", None).await;
    assert_eq!(status, 200);
    let (status, refused) = serve
        .call(Method::GET, "/v1/operator/partners", Some(&token), None)
        .await;
    assert_eq!(
        (status, refused["error"]["code"].clone()),
        (401, json!("auth_invalid_credential"))
    );
    assert_eq!(
        serve
            .operator(Method::DELETE, "/tokens/alice", None)
            .await
            .0,
        404
    );

    let (status, audit) = serve.operator(Method::GET, "/audit?size=10", None).await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["data"]["entries"].as_array().expect("entries");
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action"),
                e["actor"].as_str().expect("actor"),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("token.revoked", "root"),
            ("partner.created", "alice"),
            ("token.minted", "root")
        ],
        "newest first, each with the acting token's name"
    );
    assert_eq!(entries[1]["target"], partner);
    let text = audit.to_string();
    assert!(
        !text.contains(&token) && !text.contains("sk_") && !text.contains("whsk_"),
        "no secret in the audit log: {text}"
    );
    assert_eq!(
        serve.operator(Method::GET, "/audit?page=0", None).await.0,
        400
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operator_action_is_audited() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    receiver.set("/down", Behaviour::FailAll);
    let (partner, _, _) = serve.create_partner("Acme").await;
    let mapping = serve
        .map(&partner, 1, None, CREATED, &receiver.url("/down"))
        .await;
    serve.ingest(CREATED, order(1, 1, 2, 1)).await;
    let (_, list) = harness::eventually_async(Duration::from_secs(10), || async {
        let (status, list) = serve
            .operator(Method::GET, "/deliveries?state=dead", None)
            .await;
        (!list["data"]["deliveries"]
            .as_array()
            .expect("list")
            .is_empty())
        .then_some((status, list))
    })
    .await;
    let event_id = list["data"]["deliveries"][0]["event_id"]
        .as_str()
        .expect("id")
        .to_owned();
    for path in [
        format!("/partners/{partner}/secret/rotate"),
        format!("/partners/{partner}/webhook-secret/rotate"),
        format!("/partners/{partner}/disable"),
        format!("/partners/{partner}/enable"),
        format!("/deliveries/{event_id}/replay"),
    ] {
        let (status, body) = serve.operator(Method::POST, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    serve
        .operator(
            Method::POST,
            "/deliveries/replay",
            Some(json!({ "partner_id": partner })),
        )
        .await;
    let mapping_id = mapping["id"].as_str().expect("mapping id");
    serve
        .operator(
            Method::DELETE,
            &format!("/partners/{partner}/mappings/{mapping_id}"),
            None,
        )
        .await;

    let (_, audit) = serve.operator(Method::GET, "/audit?size=50", None).await;
    let mut actions: Vec<String> = audit["data"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            "partner.created",
            "mapping.upserted",
            "partner.secret_rotated",
            "partner.webhook_secret_rotated",
            "partner.disabled",
            "partner.enabled",
            "delivery.replayed",
            "deliveries.replayed",
            "mapping.deleted",
        ]
    );
    assert_eq!(audit["data"]["total"], 9);
    assert!(
        audit["data"]["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["actor"] == "root")
    );
}

/// The value of the sample whose line starts with `line_start`, if it is exposed.
fn sample(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// The value of a sample that must be exposed: a missing series fails the test rather
/// than reading as zero.
fn metric(text: &str, line_start: &str) -> f64 {
    sample(text, line_start).unwrap_or_else(|| panic!("no sample {line_start} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_with_deliveries_failures_and_backlog() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    // Long enough that nothing dies while the test watches the backlog age.
    env.push(("HOOKIT_RETRY_SCHEDULE", vec!["300ms"; 40].join(",")));
    let serve = Serve::start(dir.path(), &env);
    let receiver = Receiver::start().await;
    receiver.set("/down", Behaviour::FailAll);
    let (good, _, _) = serve.create_partner("Good").await;
    let (bad, _, _) = serve.create_partner("Bad").await;
    serve
        .map(&good, 1, None, CREATED, &receiver.url("/ok"))
        .await;
    serve
        .map(&bad, 2, None, CREATED, &receiver.url("/down"))
        .await;
    let scrape = || serve.metrics_text();
    let before = scrape().await;
    assert!(
        before.contains("# TYPE hookit_attempt_duration_seconds histogram"),
        "{before}"
    );
    assert!(before.ends_with("# EOF\n"), "{before}");

    for id in 1..=3 {
        serve.ingest(CREATED, order(id, 1, 2, 1)).await;
        serve.ingest(CREATED, order(100 + id, 2, 2, 1)).await;
    }
    receiver.wait_for("/ok", 1, Duration::from_secs(10)).await;
    receiver.wait_for("/down", 2, Duration::from_secs(10)).await;
    let _ = serve
        .call(Method::GET, "/v1/operator/partners", Some("wrong"), None)
        .await;
    let text = harness::eventually_async(Duration::from_secs(10), || async {
        let text = scrape().await;
        let acked = sample(
            &text,
            &format!(
                "hookit_delivery_attempts_total{{partner_id=\"{good}\",outcome=\"acknowledged\"}}"
            ),
        );
        let failed = sample(
            &text,
            &format!("hookit_delivery_attempts_total{{partner_id=\"{bad}\",outcome=\"failed\"}}"),
        );
        (acked >= Some(1.0) && failed >= Some(2.0)).then_some(text)
    })
    .await;
    assert!(
        metric(
            &text,
            &format!("hookit_pending_deliveries{{partner_id=\"{bad}\"}}")
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("hookit_pending_deliveries{{partner_id=\"{good}\"}}")
        ),
        0.0
    );
    assert!(
        metric(
            &text,
            &format!("hookit_oldest_pending_age_seconds{{partner_id=\"{bad}\"}}")
        ) > 0.0
    );
    assert_eq!(
        metric(
            &text,
            r#"hookit_ingested_changes_total{event_type="klikit.order.created.v2",result="stored"}"#
        ),
        6.0
    );
    assert!(metric(&text, r#"hookit_auth_failures_total{api="operator"}"#) >= 1.0);
    assert!(metric(&text, "hookit_delivery_batch_orders_count") >= 2.0);
    assert!(metric(&text, "hookit_attempt_duration_seconds_count") >= 3.0);
    assert!(metric(&text, "hookit_ingest_to_ack_seconds_count") >= 1.0);

    // The backlog ages while the receiver stays down, then drains when it is back.
    let age = |t: &str| {
        metric(
            t,
            &format!("hookit_oldest_pending_age_seconds{{partner_id=\"{bad}\"}}"),
        )
    };
    let first_age = age(&text);
    harness::eventually_async(Duration::from_secs(10), || async {
        (age(&scrape().await) > first_age).then_some(())
    })
    .await;
    receiver.set("/down", Behaviour::Ok);
    harness::eventually_async(Duration::from_secs(10), || async {
        let text = scrape().await;
        (sample(
            &text,
            &format!("hookit_pending_deliveries{{partner_id=\"{bad}\"}}"),
        ) == Some(0.0))
        .then_some(())
    })
    .await;
}

/// Every time field (named `…_at` or `at`) anywhere in `value`: null, or RFC 3339 UTC
/// text — never epoch milliseconds.
fn assert_times_are_rfc3339(what: &str, value: &serde_json::Value, seen: &mut usize) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                if key == "at" || key.ends_with("_at") {
                    match field {
                        serde_json::Value::Null => {}
                        serde_json::Value::String(text) => {
                            let parsed = chrono::DateTime::parse_from_rfc3339(text)
                                .unwrap_or_else(|e| panic!("{what}: {key} = {text:?}: {e}"));
                            assert_eq!(parsed.offset().local_minus_utc(), 0, "{what}: {key}");
                            assert!(text.ends_with('Z'), "{what}: {key} = {text:?} is not UTC");
                            *seen += 1;
                        }
                        other => panic!("{what}: {key} is {other}, not RFC 3339 text"),
                    }
                } else {
                    assert_times_are_rfc3339(what, field, seen);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                assert_times_are_rfc3339(what, item, seen);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_api_answers_times_as_rfc3339_utc() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = harness::partner_client::onboard(&serve, "Times").await;
    serve
        .map(&creds.id, 31, Some(1), CREATED, &receiver.url("/times"))
        .await;
    let (status, _) = serve
        .operator(
            Method::POST,
            "/tokens",
            Some(json!({ "name": "timekeeper" })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, pushed) = serve.ingest(CREATED, order(3101, 31, 1, 1)).await;
    assert_eq!(status, 202, "{pushed}");
    receiver
        .wait_for("/times", 1, Duration::from_secs(10))
        .await;
    let event_id = receiver.on("/times")[0].event_id().to_owned();
    serve
        .wait_delivery(&event_id, Duration::from_secs(10), |d| {
            d["state"] == "delivered"
        })
        .await;

    let mut seen = 0;
    for path in [
        "/partners".to_owned(),
        format!("/partners/{}", creds.id),
        format!("/partners/{}/mappings", creds.id),
        "/deliveries".to_owned(),
        format!("/deliveries/{event_id}"),
        "/tokens".to_owned(),
        "/audit".to_owned(),
    ] {
        let (status, answer) = serve.operator(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_times_are_rfc3339(&path, &answer, &mut seen);
    }
    let (status, webhooks) =
        harness::partner_client::call(&serve, &creds, Method::GET, "/webhooks", None, None).await;
    assert_eq!(status, 200, "{webhooks}");
    assert_times_are_rfc3339("/v1/partner/webhooks", &webhooks, &mut seen);
    // partners (2 × 2), mappings, deliveries, the delivery and its attempt, the
    // minted token, audit entries, the partner's recent delivery: each was checked.
    assert!(seen >= 14, "only {seen} times were checked");
}
