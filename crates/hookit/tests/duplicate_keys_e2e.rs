//! A key given twice in one JSON object is refused with a 400 naming it, on the ingest,
//! operator and partner APIs alike, and nothing of such a request is stored: parsers
//! differ on which of the two values wins, so hookit must not route by one value while
//! a partner reads the other.

mod harness;

use base64::Engine;
use harness::partner_client::{self, onboard};
use harness::{INGEST_TOKEN, OPERATOR_TOKEN, Serve, fast_env, order};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

const CREATED: &str = "klikit.order.created.v2";

/// Sends `body` exactly as written.
async fn raw(
    serve: &Serve,
    method: reqwest::Method,
    path: &str,
    auth: &str,
    body: &str,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", serve.base))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .header("idempotency-key", next_key())
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json answer"))
}

/// A fresh Idempotency-Key for each request, so no answer is a replay of another's.
fn next_key() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("dup-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn assert_names(answer: &(u16, Value), field: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{body}");
    assert_eq!(body["error"]["code"], "request_invalid", "{body}");
    assert_eq!(body["error"]["details"]["field"], field, "{body}");
}

/// `order` as JSON text with `extra` spliced in after its opening brace.
fn order_text_with(id: i64, brand: i64, extra: &str) -> String {
    let text = order(id, brand, 2, 1).to_string();
    format!("{{{extra},{}", &text[1..])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_given_twice_is_refused_on_every_api_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let ingest = format!("Bearer {INGEST_TOKEN}");
    let operator = format!("Bearer {OPERATOR_TOKEN}");
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, None, CREATED, "http://127.0.0.1:9/unused")
        .await;

    // Ingest, single: a second `id`, and a second `brands` naming another partner's brand.
    let twice_id = format!(
        r#"{{"event":"{CREATED}","order":{}}}"#,
        order_text_with(9001, 1, r#""id":9002"#)
    );
    assert_names(
        &raw(
            &serve,
            reqwest::Method::POST,
            "/v1/ingest/orders",
            &ingest,
            &twice_id,
        )
        .await,
        "order.id",
    );
    let twice_brands = format!(
        r#"{{"event":"{CREATED}","order":{}}}"#,
        order_text_with(9003, 1, r#""brands":[{"id":77,"title":"Other"}]"#)
    );
    assert_names(
        &raw(
            &serve,
            reqwest::Method::POST,
            "/v1/ingest/orders",
            &ingest,
            &twice_brands,
        )
        .await,
        "order.brands",
    );
    // Ingest, batch: the second item's event is given twice; the first item is not stored.
    let batch = format!(
        r#"{{"items":[{{"event":"{CREATED}","order":{}}},{{"event":"{CREATED}","event":"{CREATED}","order":{}}}]}}"#,
        order(9004, 1, 2, 1),
        order(9005, 1, 2, 1)
    );
    assert_names(
        &raw(
            &serve,
            reqwest::Method::POST,
            "/v1/ingest/orders/batch",
            &ingest,
            &batch,
        )
        .await,
        "items[1].event",
    );
    // A key at the top level of the body counts too.
    let top = format!(
        r#"{{"event":"{CREATED}","order":{},"event":"{CREATED}"}}"#,
        order(9006, 1, 2, 1)
    );
    assert_names(
        &raw(
            &serve,
            reqwest::Method::POST,
            "/v1/ingest/orders",
            &ingest,
            &top,
        )
        .await,
        "event",
    );
    for id in [9001, 9002, 9003, 9004, 9005, 9006] {
        let (status, body) = partner_client::call(
            &serve,
            &creds,
            reqwest::Method::GET,
            &format!("/orders/{id}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 404, "order {id} must not be stored: {body}");
    }

    // Operator API: a partner's name given twice creates no partner.
    let (_, before) = serve
        .operator(reqwest::Method::GET, "/partners", None)
        .await;
    assert_names(
        &raw(
            &serve,
            reqwest::Method::POST,
            "/v1/operator/partners",
            &operator,
            r#"{"name":"One","name":"Two"}"#,
        )
        .await,
        "name",
    );
    let (_, after) = serve
        .operator(reqwest::Method::GET, "/partners", None)
        .await;
    assert_eq!(before["data"], after["data"], "no partner was created");

    // Partner API: a status change with `status` twice changes nothing.
    let (status, _) = serve.ingest(CREATED, order(9100, 1, 2, 1)).await;
    assert_eq!(status, 202);
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", creds.key, creds.secret));
    assert_names(
        &raw(
            &serve,
            reqwest::Method::PATCH,
            "/v1/partner/orders/9100/status",
            &format!("Basic {basic}"),
            r#"{"status":2,"status":9}"#,
        )
        .await,
        "status",
    );
    let (status, body) = partner_client::call(
        &serve,
        &creds,
        reqwest::Method::GET,
        "/orders/9100",
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], 1, "unchanged: {body}");
    assert_eq!(body["data"]["version"], 1, "unchanged: {body}");
}
