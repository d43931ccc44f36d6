//! The partner API over real HTTP: getOrder, the list, status changes, scope,
//! credentials and throttling.

mod harness;

use base64::Engine;
use harness::receiver::Receiver;
use harness::{Serve, fast_env, order};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const STATUS: &str = "klikit.order.status.updated";
const WAIT: Duration = Duration::from_secs(15);

/// A partner's credentials.
struct Creds {
    id: String,
    key: String,
    secret: String,
}

async fn onboard(serve: &Serve, name: &str) -> Creds {
    let (id, _, data) = serve.create_partner(name).await;
    Creds {
        id,
        key: data["partner_key"].as_str().expect("key").to_owned(),
        secret: data["secret_key"].as_str().expect("secret").to_owned(),
    }
}

fn basic(key: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"));
    format!("Basic {encoded}")
}

async fn partner_call(
    serve: &Serve,
    creds: &Creds,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, String) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/v1/partner{path}", serve.base))
        .header("authorization", basic(&creds.key, &creds.secret));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let value: Value = response.json().await.expect("json");
    assert_eq!(
        value["request_id"], header,
        "the body and header carry one request id"
    );
    (status, value, header)
}

async fn get(serve: &Serve, creds: &Creds, path: &str) -> (u16, Value) {
    let (status, value, _) = partner_call(serve, creds, Method::GET, path, None, None).await;
    (status, value)
}

async fn patch(serve: &Serve, creds: &Creds, id: i64, key: &str, body: Value) -> (u16, Value) {
    let path = format!("/orders/{id}/status");
    let (status, value, _) =
        partner_call(serve, creds, Method::PATCH, &path, Some(key), Some(body)).await;
    (status, value)
}

#[tokio::test(flavor = "multi_thread")]
async fn get_order_is_the_record_of_the_last_webhook() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 663, Some(1062), CREATED, &receiver.url("/c"))
        .await;
    serve
        .map(&creds.id, 663, Some(1062), STATUS, &receiver.url("/s"))
        .await;
    serve.ingest(CREATED, order(7585307, 663, 1062, 1)).await;
    serve.ingest(STATUS, order(7585307, 663, 1062, 2)).await;
    let last = receiver.wait_for("/s", 1, WAIT).await;
    let webhook_record = last[0].json()["orders"][0].clone();

    let (status, body) = get(&serve, &creds, "/orders/7585307").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"], webhook_record,
        "getOrder is the webhook's record"
    );
    assert_eq!(body["data"]["version"], 2);
    assert!(body["request_id"].as_str().expect("id").starts_with("req_"));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_partners_order_is_the_same_404_as_a_missing_one() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let mine = onboard(&serve, "Mine").await;
    let theirs = onboard(&serve, "Theirs").await;
    serve
        .map(&mine.id, 1, Some(1), CREATED, &receiver.url("/m"))
        .await;
    serve
        .map(&theirs.id, 2, None, CREATED, &receiver.url("/t"))
        .await;
    serve.ingest(CREATED, order(100, 1, 1, 1)).await;
    serve.ingest(CREATED, order(200, 2, 5, 1)).await;
    // Same brand, another branch: outside a branch-level mapping.
    serve.ingest(CREATED, order(300, 1, 2, 1)).await;

    assert_eq!(get(&serve, &mine, "/orders/100").await.0, 200);
    let strip = |mut v: Value| {
        v.as_object_mut().expect("object").remove("request_id");
        v
    };
    let (other_status, other) = get(&serve, &mine, "/orders/200").await;
    let (missing_status, missing) = get(&serve, &mine, "/orders/999").await;
    assert_eq!((other_status, missing_status), (404, 404));
    assert_eq!(other["error"]["code"], "resource_not_found");
    let other_text = strip(other).to_string().replace("200", "ID");
    let missing_text = strip(missing).to_string().replace("999", "ID");
    assert_eq!(other_text, missing_text, "nothing tells the two apart");
    assert_eq!(get(&serve, &mine, "/orders/300").await.0, 404);
    let (status, _) = patch(&serve, &mine, 200, "k", json!({ "status": "accepted" })).await;
    assert_eq!(status, 404, "a partner cannot change another's order");
    let (_, list) = get(
        &serve,
        &mine,
        "/orders?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
    )
    .await;
    let ids: Vec<i64> = list["data"]["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [100], "the list holds only mapped orders");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_pages_newest_first_and_checks_its_range() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, None, CREATED, &receiver.url("/c"))
        .await;
    for day in 1..=5i64 {
        let mut record = order(day, 1, 2, if day == 5 { 2 } else { 1 });
        record["placed_at"] = json!(format!("2026-11-{day:02}T08:00:00Z"));
        serve.ingest(CREATED, record).await;
    }
    let range = "from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z";
    let (status, first) = get(&serve, &creds, &format!("/orders?{range}&page=1&size=2")).await;
    assert_eq!(status, 200, "{first}");
    let ids = |v: &Value| -> Vec<i64> {
        v["data"]["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["id"].as_i64().expect("id"))
            .collect()
    };
    assert_eq!(ids(&first), [5, 4], "newest placed_at first");
    assert_eq!(
        (
            first["data"]["page"].clone(),
            first["data"]["size"].clone(),
            first["data"]["total"].clone()
        ),
        (json!(1), json!(2), json!(5))
    );
    let (_, third) = get(&serve, &creds, &format!("/orders?{range}&page=3&size=2")).await;
    assert_eq!(ids(&third), [1]);
    let (_, accepted) = get(&serve, &creds, &format!("/orders?{range}&status=2")).await;
    assert_eq!(ids(&accepted), [5]);
    let (_, by_name) = get(&serve, &creds, &format!("/orders?{range}&status=accepted")).await;
    assert_eq!(ids(&by_name), [5]);
    let (_, narrow) = get(
        &serve,
        &creds,
        "/orders?from=2026-11-02T00:00:00Z&to=2026-11-04T00:00:00Z",
    )
    .await;
    assert_eq!(ids(&narrow), [3, 2], "from is inclusive, to exclusive");

    let (status, body) = get(
        &serve,
        &creds,
        "/orders?from=2026-01-01T00:00:00Z&to=2026-11-01T00:00:00Z",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("request_invalid_range"))
    );
    let (status, body) = get(
        &serve,
        &creds,
        "/orders?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("request_invalid_range"))
    );
    for bad in [
        "page=0",
        "size=101",
        "size=x",
        "from=yesterday",
        "status=lost",
        "colour=red",
    ] {
        let (status, body) = get(&serve, &creds, &format!("/orders?{bad}")).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("request_invalid")),
            "{bad}: {body}"
        );
    }
}

/// Ingests an order at `status` and tries `requested` on it.
async fn try_transition(
    serve: &Serve,
    creds: &Creds,
    id: i64,
    status: i64,
    requested: &str,
) -> (u16, Value) {
    serve.ingest(CREATED, order(id, 1, 2, status)).await;
    let mut body = json!({ "status": requested });
    if matches!(requested, "rejected" | "cancelled") {
        body["reason_code"] = json!("customer_requested");
    }
    patch(serve, creds, id, &format!("key-{id}"), body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_transition_is_allowed_or_refused_as_the_state_machine_says() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, None, STATUS, &receiver.url("/s"))
        .await;
    let allowed: &[(&str, &[i64], i64)] = &[
        ("accepted", &[1, 6], 2),
        ("ready", &[2], 4),
        ("picked_up", &[4, 7, 8], 9),
        ("rejected", &[1, 6], 3),
        ("cancelled", &[1, 2, 4, 6, 7, 8], 3),
    ];
    let mut id = 1000;
    let mut expected_webhooks = 0;
    for (requested, from, to) in allowed {
        for current in 1..=9 {
            id += 1;
            let (status, body) = try_transition(&serve, &creds, id, current, requested).await;
            if from.contains(&current) {
                assert_eq!(status, 200, "{requested} from {current}: {body}");
                assert_eq!(body["data"]["status"], *to, "{requested} from {current}");
                assert_eq!(body["data"]["version"], 2);
                if matches!(*requested, "rejected" | "cancelled") {
                    assert_eq!(body["data"]["reason_code"], "customer_requested");
                }
                expected_webhooks += 1;
            } else {
                assert_eq!(status, 409, "{requested} from {current}: {body}");
                assert_eq!(body["error"]["code"], "state_invalid_transition");
                assert_eq!(body["error"]["details"]["current_code"], current);
                assert_eq!(body["error"]["details"]["requested"], *requested);
                let (_, unchanged) = get(&serve, &creds, &format!("/orders/{id}")).await;
                assert_eq!(
                    unchanged["data"]["version"], 1,
                    "a refused change writes nothing"
                );
            }
        }
    }
    harness::eventually(WAIT, "a status webhook per allowed change", || {
        let orders: usize = receiver.on("/s").iter().map(|r| r.order_ids().len()).sum();
        (orders >= expected_webhooks).then_some(())
    })
    .await;
    let (status, body) = patch(
        &serve,
        &creds,
        1001,
        "k-missing-reason",
        json!({ "status": "cancelled" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("request_invalid"))
    );
    let (status, _) = patch(
        &serve,
        &creds,
        1001,
        "k-bad-reason",
        json!({ "status": "cancelled", "reason_code": "bored" }),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = patch(
        &serve,
        &creds,
        1001,
        "k-bad-status",
        json!({ "status": "delivered" }),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_patch_changes_once_and_emits_one_webhook() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, None, STATUS, &receiver.url("/s"))
        .await;
    serve.ingest(CREATED, order(42, 1, 2, 1)).await;

    let (status, body) = reqwest::Client::new()
        .patch(format!("{}/v1/partner/orders/42/status", serve.base))
        .header("authorization", basic(&creds.key, &creds.secret))
        .json(&json!({ "status": "accepted" }))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .expect("send");
    let body: Value = body.json().await.expect("json");
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("request_missing_idempotency_key"))
    );

    let change = json!({ "status": "accepted", "occurred_at": "2026-11-28T10:30:00Z" });
    let (first_status, first) = patch(&serve, &creds, 42, "accept-42", change.clone()).await;
    let (again_status, again) = patch(&serve, &creds, 42, "accept-42", change).await;
    assert_eq!((first_status, again_status), (200, 200));
    assert_eq!(first["data"], again["data"], "the first answer again");
    assert_ne!(first["request_id"], again["request_id"]);
    assert_eq!(
        first["data"]["occurred_at"], "2026-11-28T10:30:00Z",
        "the partner's own time is kept apart from updated_at"
    );
    let (status, body) = patch(
        &serve,
        &creds,
        42,
        "accept-42",
        json!({ "status": "ready" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (422, json!("request_idempotency_mismatch"))
    );

    let got = receiver.wait_for("/s", 1, WAIT).await;
    assert_eq!(got[0].json()["orders"][0]["status"], 2);
    // Once the barrier is delivered every change committed before it has been formed
    // into a delivery: a second change under the same key would show as a second one.
    serve.barrier(&receiver).await;
    let (_, list) = serve
        .operator(
            Method::GET,
            &format!("/deliveries?partner_id={}&order_id=42", creds.id),
            None,
        )
        .await;
    let formed = list["data"]["deliveries"].as_array().expect("deliveries");
    assert_eq!(formed.len(), 1, "exactly one webhook: {list}");
    serve
        .wait_delivery(got[0].event_id(), WAIT, |d| d["state"] == "delivered")
        .await;
    assert_eq!(receiver.on("/s").len(), 1, "sent once");
    let (_, now) = get(&serve, &creds, "/orders/42").await;
    assert_eq!(now["data"]["version"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_and_wrong_credentials_are_refused_alike_and_a_disabled_partner_is_told() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let creds = onboard(&serve, "Acme").await;
    assert_eq!(get(&serve, &creds, "/webhooks").await.0, 200);

    let unauthorised = |status: u16, body: &Value| {
        status == 401 && body["error"]["code"] == "auth_invalid_credential"
    };
    let wrong_secret = Creds {
        secret: "sk_wrong".into(),
        ..Creds {
            id: creds.id.clone(),
            key: creds.key.clone(),
            secret: String::new(),
        }
    };
    let (status, wrong) = get(&serve, &wrong_secret, "/webhooks").await;
    assert!(unauthorised(status, &wrong), "{wrong}");
    let wrong_key = Creds {
        key: "pk_nobody".into(),
        id: creds.id.clone(),
        secret: creds.secret.clone(),
    };
    let (status, unknown) = get(&serve, &wrong_key, "/webhooks").await;
    assert!(unauthorised(status, &unknown));
    assert_eq!(
        wrong["error"]["message"], unknown["error"]["message"],
        "one message for every failure"
    );

    let (status, rotated) = serve
        .operator(
            Method::POST,
            &format!("/partners/{}/secret/rotate", creds.id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let (status, _) = get(&serve, &creds, "/webhooks").await;
    assert_eq!(status, 401, "the old secret stops working at once");
    let fresh = Creds {
        secret: rotated["data"]["secret_key"]
            .as_str()
            .expect("secret")
            .to_owned(),
        id: creds.id.clone(),
        key: creds.key.clone(),
    };
    assert_eq!(get(&serve, &fresh, "/webhooks").await.0, 200);

    serve
        .operator(
            Method::POST,
            &format!("/partners/{}/disable", creds.id),
            None,
        )
        .await;
    // Right credentials of a disabled partner: 403, saying why, and not a failed
    // authentication (the throttle would lock the partner out otherwise).
    for _ in 0..25 {
        let (status, disabled) = get(&serve, &fresh, "/webhooks").await;
        assert_eq!(status, 403, "{disabled}");
        assert_eq!(disabled["error"]["code"], "partner_disabled", "{disabled}");
    }
    let wrong_while_disabled = Creds {
        secret: "sk_wrong".into(),
        id: creds.id.clone(),
        key: creds.key.clone(),
    };
    let (status, body) = get(&serve, &wrong_while_disabled, "/webhooks").await;
    assert!(
        unauthorised(status, &body),
        "a wrong secret learns nothing of the partner's state: {body}"
    );
    serve
        .operator(
            Method::POST,
            &format!("/partners/{}/enable", creds.id),
            None,
        )
        .await;
    assert_eq!(get(&serve, &fresh, "/webhooks").await.0, 200);

    let response = reqwest::Client::new()
        .get(format!("{}/v1/partner/webhooks", serve.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "auth_missing");
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_are_throttled_then_recover() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_AUTH_FAILURE_WINDOW", "2s".into()));
    let serve = Serve::start(dir.path(), &env);
    let creds = onboard(&serve, "Acme").await;
    let wrong = Creds {
        id: creds.id.clone(),
        key: creds.key.clone(),
        secret: "sk_guess".into(),
    };
    for attempt in 1..=20 {
        assert_eq!(
            get(&serve, &wrong, "/webhooks").await.0,
            401,
            "attempt {attempt}"
        );
    }
    assert_eq!(
        get(&serve, &wrong, "/webhooks").await.0,
        401,
        "the 21st failure is still answered"
    );
    let response = reqwest::Client::new()
        .get(format!("{}/v1/partner/webhooks", serve.base))
        .header("authorization", basic(&creds.key, &creds.secret))
        .send()
        .await
        .expect("send");
    assert_eq!(
        response.status().as_u16(),
        429,
        "throttled, even with the right secret"
    );
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // The window is 2 s in this test's settings: the throttle lifts by itself, and is
    // still in force just after the 429 above.
    let throttled_at = std::time::Instant::now();
    let recovered = harness::eventually_async(Duration::from_secs(10), || async {
        (get(&serve, &creds, "/webhooks").await.0 == 200).then(std::time::Instant::now)
    })
    .await;
    assert!(
        recovered.duration_since(throttled_at) >= Duration::from_millis(500),
        "the throttle held for a while before it lifted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_partner_sees_its_own_webhook_setup_without_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, Some(2), CREATED, &receiver.url("/c"))
        .await;
    serve.ingest(CREATED, order(5, 1, 2, 1)).await;
    receiver.wait_for("/c", 1, WAIT).await;
    let body = harness::eventually_async(WAIT, || async {
        let (_, body) = get(&serve, &creds, "/webhooks").await;
        (body["data"]["recent_deliveries"][0]["state"] == "delivered").then_some(body)
    })
    .await;
    assert_eq!(body["data"]["mappings"][0]["url"], receiver.url("/c"));
    assert_eq!(body["data"]["mappings"][0]["branch_id"], 2);
    assert_eq!(
        body["data"]["recent_deliveries"][0]["order_ids"],
        json!([5])
    );
    let text = body.to_string();
    assert!(
        !text.contains(&creds.secret) && !text.contains("whsk_"),
        "no secret: {text}"
    );
}
