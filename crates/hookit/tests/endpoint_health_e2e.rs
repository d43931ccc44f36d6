//! Endpoint health (issue 10, item 3), end to end against real receivers: a URL that
//! keeps failing trips its circuit, is probed with a doubling cool-down without its
//! delivery's retry schedule running out, and recovers; a 410 disables a URL at once
//! and `hookit endpoints enable` resumes it. The state shows in the operator and
//! partner APIs, the CLI and the metrics.

mod harness;

use harness::receiver::{Behaviour, Receiver};
use harness::{OPERATOR_TOKEN, Serve, attempt_starts, eventually_async, order};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const WAIT: Duration = Duration::from_secs(20);

/// Three failures over at least 100 ms open a circuit; probes every 200 ms, doubling.
/// The retry schedule allows six attempts in all.
fn health_env() -> Vec<(&'static str, String)> {
    vec![
        ("HOOKIT_ALLOW_PRIVATE_TARGETS", "true".into()),
        ("HOOKIT_TICK", "20ms".into()),
        (
            "HOOKIT_RETRY_SCHEDULE",
            "100ms,100ms,100ms,100ms,100ms".into(),
        ),
        ("HOOKIT_ATTEMPT_TIMEOUT", "2s".into()),
        ("HOOKIT_CLAIM_LEASE", "3s".into()),
        ("HOOKIT_BREAKER_FAILURES", "3".into()),
        ("HOOKIT_BREAKER_MIN_FAILING", "100ms".into()),
        ("HOOKIT_BREAKER_COOLDOWN", "200ms".into()),
        ("HOOKIT_DISABLE_AFTER", "1h".into()),
    ]
}

/// The operator's view of one endpoint, once `state` is what it says.
async fn wait_endpoint(serve: &Serve, partner: &str, url: &str, state: &str) -> Value {
    eventually_async(WAIT, || async {
        let (status, body) = serve
            .operator(
                Method::GET,
                &format!("/endpoints?partner_id={partner}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]
            .as_array()
            .and_then(|all| all.iter().find(|e| e["url"] == url && e["state"] == state))
            .cloned()
    })
    .await
}

/// `GET /v1/partner/webhooks` as the partner, with its Basic credentials.
async fn partner_webhooks(serve: &Serve, created: &Value) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/partner/webhooks", serve.base))
        .basic_auth(
            created["partner_key"].as_str().expect("key"),
            created["secret_key"].as_str(),
        )
        .send()
        .await
        .expect("partner webhooks");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_url_trips_is_probed_and_recovers() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &health_env());
    let receiver = Receiver::start().await;
    receiver.set("/flaky", Behaviour::FailAll);
    let url = receiver.url("/flaky");
    let (partner, _, created) = serve.create_partner("flaky").await;
    serve.map(&partner, 71, Some(1), CREATED, &url).await;
    assert_eq!(serve.ingest(CREATED, order(7101, 71, 1, 1)).await.0, 202);

    let open = wait_endpoint(&serve, &partner, &url, "open").await;
    assert_eq!(open["pending"], 1, "{open}");
    assert!(
        open["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{open}"
    );
    let event_id = receiver.on("/flaky")[0].event_id().to_owned();
    // The state shows wherever the URL does.
    let (_, mappings) = serve
        .operator(Method::GET, &format!("/partners/{partner}/mappings"), None)
        .await;
    assert_eq!(mappings["data"][0]["endpoint_state"], "open", "{mappings}");
    let webhooks = partner_webhooks(&serve, &created).await;
    assert_eq!(webhooks["data"]["urls"][0]["state"], "open", "{webhooks}");
    assert!(
        serve
            .metrics_text()
            .await
            .contains("hookit_endpoints{state=\"open\"} 1")
    );

    // The schedule allows six attempts; the circuit opened at the third. A seventh
    // attempt is a probe that did not use the schedule up.
    let probed = serve
        .wait_delivery(&event_id, WAIT, |d| {
            d["attempts"].as_array().is_some_and(|a| a.len() >= 7)
        })
        .await;
    assert_eq!(probed["state"], "pending", "probing never kills: {probed}");
    let starts = attempt_starts(&probed);
    let last_gap = starts[starts.len() - 1] - starts[starts.len() - 2];
    assert!(
        last_gap >= 400,
        "after a failed probe the cool-down doubled (200 ms, then 400 ms): {starts:?}"
    );

    // The endpoint recovers: the next probe succeeds and closes the circuit.
    receiver.set("/flaky", Behaviour::Ok);
    serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "delivered")
        .await;
    let healthy = wait_endpoint(&serve, &partner, &url, "healthy").await;
    assert_eq!(healthy["pending"], 0, "{healthy}");
    assert_eq!(serve.ingest(CREATED, order(7102, 71, 1, 1)).await.0, 202);
    harness::eventually(WAIT, "the next order on the healed URL", || {
        receiver
            .on("/flaky")
            .iter()
            .any(|r| r.order_ids() == vec![7102] && r.answered == 200)
            .then_some(())
    })
    .await;
    let metrics = serve.metrics_text().await;
    assert!(
        metrics.contains(
            "hookit_endpoint_transitions_total{to=\"open\",reason=\"breaker_tripped\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "hookit_endpoint_transitions_total{to=\"healthy\",reason=\"probe_succeeded\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_410_disables_at_once_and_hookit_endpoints_enable_resumes() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &health_env());
    let receiver = Receiver::start().await;
    receiver.set("/gone", Behaviour::Status(410));
    let url = receiver.url("/gone");
    let (partner, _, created) = serve.create_partner("gone").await;
    serve.map(&partner, 72, Some(1), CREATED, &url).await;
    assert_eq!(serve.ingest(CREATED, order(7201, 72, 1, 1)).await.0, 202);

    let disabled = wait_endpoint(&serve, &partner, &url, "disabled").await;
    assert_eq!(disabled["pending"], 1, "{disabled}");
    let event_id = receiver.on("/gone")[0].event_id().to_owned();
    let waiting = serve.delivery(&event_id).await;
    assert_eq!(waiting["state"], "pending", "waiting, not dead: {waiting}");
    let webhooks = partner_webhooks(&serve, &created).await;
    assert_eq!(
        webhooks["data"]["urls"][0]["state"], "disabled",
        "{webhooks}"
    );
    let (_, audit) = serve
        .operator(Method::GET, "/audit?action=endpoint.disabled", None)
        .await;
    assert_eq!(audit["data"]["total"], 1, "{audit}");
    assert_eq!(
        audit["data"]["entries"][0]["details"]["reason"], "gone",
        "{audit}"
    );

    let listed = hookit(&serve, &["endpoints", "list"]).await;
    assert!(
        listed.contains("STATE") && listed.contains("disabled"),
        "{listed}"
    );
    let listed_json: Value =
        serde_json::from_str(&hookit(&serve, &["endpoints", "list", "--json"]).await)
            .expect("--json is JSON");
    assert_eq!(listed_json["data"][0]["state"], "disabled", "{listed_json}");

    receiver.set("/gone", Behaviour::Ok);
    let enabled = hookit(
        &serve,
        &["endpoints", "enable", "--partner", &partner, "--url", &url],
    )
    .await;
    assert!(enabled.contains("Enabled"), "{enabled}");
    let arrived = receiver.wait_for("/gone", 2, WAIT).await;
    assert_eq!(
        arrived[1].event_id(),
        event_id,
        "the waiting delivery resumes"
    );
    assert_eq!(
        arrived[1].header("x-klikit-delivery-attempt"),
        "2",
        "nothing was sent while the endpoint was disabled"
    );
    serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "delivered")
        .await;
    let (_, audit) = serve
        .operator(Method::GET, "/audit?action=endpoint.enabled", None)
        .await;
    assert_eq!(audit["data"]["entries"][0]["actor"], "root", "{audit}");
    let (status, missing) = serve
        .operator(
            Method::POST,
            "/endpoints/enable",
            Some(json!({ "partner_id": partner, "url": "http://127.0.0.1:1/none" })),
        )
        .await;
    assert_eq!(
        (status, missing["error"]["code"].clone()),
        (404, json!("resource_not_found"))
    );
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
