//! A partner's side of the partner API: credentials and Basic-authenticated calls.

use super::Serve;
use base64::Engine;
use reqwest::Method;
use serde_json::Value;

/// A partner's id and API credentials.
pub struct Creds {
    pub id: String,
    pub key: String,
    pub secret: String,
}

/// Creates a partner and keeps its credentials.
pub async fn onboard(serve: &Serve, name: &str) -> Creds {
    let (id, _, data) = serve.create_partner(name).await;
    Creds {
        id,
        key: data["partner_key"].as_str().expect("key").to_owned(),
        secret: data["secret_key"].as_str().expect("secret").to_owned(),
    }
}

/// One partner API call; returns the status and the JSON body.
pub async fn call(
    serve: &Serve,
    creds: &Creds,
    method: Method,
    path: &str,
    idempotency_key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", creds.key, creds.secret));
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/v1/partner{path}", serve.base))
        .header("authorization", format!("Basic {basic}"));
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}
