//! "Send me a test webhook" (issue 11, item 8), end to end: the partner API, the
//! operator API and `hookit partner test-webhook` each have a signed sample delivery
//! sent by the dispatcher to a real receiver, and answer how it went.

mod harness;

use harness::partner_client::{self, Creds};
use harness::receiver::{Behaviour, Receiver};
use harness::{OPERATOR_TOKEN, Serve, fast_env};
use reqwest::Method;
use serde_json::{Value, json};

const CREATED: &str = "klikit.order.created.v2";
const STATUS: &str = "klikit.order.status.updated";

async fn test_webhook(serve: &Serve, creds: &Creds, body: Value) -> (u16, Value) {
    partner_client::call(
        serve,
        creds,
        Method::POST,
        "/webhooks/test",
        None,
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_gets_a_signed_sample_marked_as_a_test_and_sees_how_it_went() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    receiver.set("/refuses", Behaviour::Status(401));
    let (id, webhook_secret, created) = serve.create_partner("Tester").await;
    let creds = Creds {
        id,
        key: created["partner_key"].as_str().expect("key").to_owned(),
        secret: created["secret_key"].as_str().expect("secret").to_owned(),
    };
    serve
        .map(&creds.id, 41, Some(2), CREATED, &receiver.url("/hook"))
        .await;
    serve
        .map(&creds.id, 41, Some(2), STATUS, &receiver.url("/refuses"))
        .await;

    // The URL mapped for the event type answers 200.
    let (status, answer) = test_webhook(&serve, &creds, json!({ "event_type": CREATED })).await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["data"];
    assert_eq!(result["status_code"], 200, "{answer}");
    assert_eq!(result["signature_rejected_likely"], false);
    assert_eq!(result["error"], Value::Null);
    assert!(result["latency_ms"].as_i64().is_some(), "{answer}");
    assert_eq!(result["url"], receiver.url("/hook"));
    let event_id = result["event_id"].as_str().expect("event id").to_owned();
    let arrived = receiver.on("/hook");
    assert_eq!(arrived.len(), 1, "sent once, before the answer");
    let sample = &arrived[0];
    assert_eq!(sample.event_id(), event_id);
    assert_eq!(sample.header("x-klikit-test"), "true");
    assert_eq!(sample.header("x-klikit-event-type"), CREATED);
    klikit_webhook::verify(
        webhook_secret.as_bytes(),
        &sample.body,
        Some(sample.header("x-klikit-signature")),
    )
    .expect("signed with the partner's webhook secret");
    let body = sample.json();
    assert_eq!(
        (body["brand_id"].clone(), body["branch_id"].clone()),
        (json!(41), json!(2))
    );
    let order_id = sample.order_ids()[0];
    assert!(order_id < 0, "a sample order has a negative id: {order_id}");

    // Not stored as an order, never listed, never replayed.
    let (status, _) = partner_client::call(
        &serve,
        &creds,
        Method::GET,
        &format!("/orders/{order_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, listed) = serve
        .operator(
            Method::GET,
            &format!("/deliveries?partner_id={}", creds.id),
            None,
        )
        .await;
    assert_eq!(listed["data"]["deliveries"], json!([]), "{listed}");
    let (_, webhooks) =
        partner_client::call(&serve, &creds, Method::GET, "/webhooks", None, None).await;
    assert_eq!(
        webhooks["data"]["recent_deliveries"],
        json!([]),
        "{webhooks}"
    );
    let (status, refused) = serve
        .operator(
            Method::POST,
            &format!("/deliveries/{event_id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, 404, "{refused}");

    // A URL that refuses with 401 is flagged as a likely signature problem, and the
    // test is attempted once: its delivery is final after that one attempt.
    let (status, answer) = test_webhook(
        &serve,
        &creds,
        json!({ "event_type": CREATED, "url": receiver.url("/refuses") }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["status_code"], 401, "{answer}");
    assert_eq!(answer["data"]["signature_rejected_likely"], true);
    let refused_id = answer["data"]["event_id"].as_str().expect("id").to_owned();
    let final_state = serve.delivery(&refused_id).await;
    assert_eq!(final_state["state"], "dead", "{final_state}");
    assert_eq!(final_state["attempt_count"], 1, "{final_state}");

    // Only the partner's own URLs; known event types only.
    let (status, bad) = test_webhook(
        &serve,
        &creds,
        json!({ "event_type": CREATED, "url": "http://127.0.0.1:9/elsewhere" }),
    )
    .await;
    assert_eq!(
        (status, bad["error"]["details"]["field"].clone()),
        (400, json!("url")),
        "{bad}"
    );
    let (status, bad) = test_webhook(&serve, &creds, json!({ "event_type": "order.made" })).await;
    assert_eq!(status, 400, "{bad}");

    // Operators can send one for the partner; the CLI too.
    let (status, by_operator) = serve
        .operator(
            Method::POST,
            &format!("/partners/{}/webhooks/test", creds.id),
            Some(json!({ "event_type": CREATED })),
        )
        .await;
    assert_eq!(status, 200, "{by_operator}");
    assert_eq!(by_operator["data"]["status_code"], 200);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookit"))
        .args(["partner", "test-webhook", &creds.id, "--event", "created"])
        .env_clear()
        .env("HOOKIT_SERVER", &serve.base)
        .env("HOOKIT_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .output()
        .await
        .expect("run hookit");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "Test webhook to {}: acknowledged with HTTP 200.",
            receiver.url("/hook")
        )),
        "{stdout}"
    );
    assert_eq!(receiver.on("/hook").len(), 3);

    // Five per minute per partner: two by the partner, one by the operator, one by the
    // CLI so far (the refused requests above were turned away before counting).
    let (status, limited) = test_webhook(&serve, &creds, json!({ "event_type": CREATED })).await;
    assert_eq!(status, 200, "{limited}");
    let (status, limited) = test_webhook(&serve, &creds, json!({ "event_type": CREATED })).await;
    assert_eq!(
        (status, limited["error"]["code"].clone()),
        (429, json!("rate_limited")),
        "{limited}"
    );
    assert_eq!(
        receiver.on("/hook").len(),
        4,
        "a refused test sends nothing"
    );
}
