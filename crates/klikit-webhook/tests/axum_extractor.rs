//! The `VerifiedEvent` extractor answers for the handler: 200 from the handler for a
//! good delivery, 403 / 400 with a JSON error body otherwise.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use klikit_webhook::axum::{VerifiedEvent, WebhookSecretKey};
use klikit_webhook::{header, sign};
use tower::ServiceExt;

const SECRET: &str = "whsk_test_0123456789abcdef";
const BODY: &str = r#"{"brand_id":663,"branch_id":1062,"orders":[{"id":7585307,"status":2}]}"#;

async fn handler(VerifiedEvent(event): VerifiedEvent) -> String {
    format!("{} {}", event.event_id, event.envelope.orders[0].id)
}

fn app() -> Router {
    Router::new()
        .route("/hook", post(handler))
        .with_state(WebhookSecretKey::new(SECRET))
}

async fn post_to_app(signature: &str, body: &str) -> (StatusCode, String) {
    let request = Request::post("/hook")
        .header(header::SIGNATURE, signature)
        .header(header::EVENT_ID, "evt_1")
        .header(header::EVENT_TYPE, "klikit.order.status.updated")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = app().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn error_code(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON error body");
    assert!(json["error"]["message"].is_string(), "{body}");
    json["error"]["code"].as_str().expect("code").to_owned()
}

#[tokio::test]
async fn good_delivery_reaches_the_handler() {
    let signature = sign(SECRET.as_bytes(), BODY.as_bytes());
    let (status, body) = post_to_app(&signature, BODY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "evt_1 7585307");
}

#[tokio::test]
async fn bad_signature_is_403_with_a_json_error() {
    let signature = sign(b"another secret", BODY.as_bytes());
    let (status, body) = post_to_app(&signature, BODY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "signature_mismatch");
}

#[tokio::test]
async fn signed_garbage_is_400() {
    let signature = sign(SECRET.as_bytes(), b"not json");
    let (status, body) = post_to_app(&signature, "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "envelope_invalid");
}

#[test]
fn secret_is_not_debug_printed() {
    let printed = format!("{:?}", WebhookSecretKey::new(SECRET));
    assert!(!printed.contains(SECRET), "{printed}");
}

#[tokio::test]
async fn several_secrets_each_reach_the_handler() {
    let app = Router::new()
        .route("/hook", post(handler))
        .with_state(WebhookSecretKey::any_of(["whsk_new", SECRET]));
    for (secret, expected) in [
        ("whsk_new", StatusCode::OK),
        (SECRET, StatusCode::OK),
        ("whsk_neither", StatusCode::FORBIDDEN),
    ] {
        let request = Request::post("/hook")
            .header(header::SIGNATURE, sign(secret.as_bytes(), BODY.as_bytes()))
            .header(header::EVENT_ID, "evt_1")
            .header(header::EVENT_TYPE, "klikit.order.status.updated")
            .body(Body::from(BODY))
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), expected, "signed with {secret}");
    }
}
