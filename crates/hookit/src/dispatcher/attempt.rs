//! One attempt: sign the stored body with the partner's webhook secrets live at this
//! moment (see `signing`), POST it, and classify what came back.

use super::retry::parse_retry_after;
use super::signing::{self, Headers, LiveSecrets};
use crate::store::{AttemptResult, ClaimedDelivery, now_millis};
use crate::target_policy;
use klikit_webhook::header;
use std::time::{Duration, Instant};
use tls_failure::tls_failure_in;

mod tls_failure;

/// Marks a test delivery (`POST /v1/partner/webhooks/test`), whose order is a sample.
pub const TEST_HEADER: &str = "x-klikit-test";

/// How much of a response body is kept in the attempt record.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;

/// What an attempt produced, before the retry decision.
#[derive(Debug)]
pub struct AttemptReport {
    pub result: AttemptResult,
    pub response_excerpt: Option<String>,
    pub duration: Duration,
}

/// Sends one delivery. Never fails: every problem becomes a failed attempt that says
/// what went wrong.
pub async fn send(
    client: &reqwest::Client,
    delivery: &ClaimedDelivery,
    webhook_secrets: Result<LiveSecrets, String>,
    allow_private: bool,
) -> AttemptReport {
    let started = Instant::now();
    let (result, response_excerpt) = match prepare(delivery, webhook_secrets, allow_private) {
        Ok((url, signatures)) => post(client, delivery, url, signatures).await,
        Err(result) => (result, None),
    };
    AttemptReport {
        result,
        response_excerpt,
        duration: started.elapsed(),
    }
}

fn failed(error_kind: &str, error: String) -> AttemptResult {
    AttemptResult::Failed {
        status: None,
        error_kind: error_kind.to_owned(),
        error,
        retry_after: None,
    }
}

/// Checks the target and signs the body; a failure here is recorded as the attempt.
fn prepare(
    delivery: &ClaimedDelivery,
    webhook_secrets: Result<LiveSecrets, String>,
    allow_private: bool,
) -> Result<(reqwest::Url, Headers), AttemptResult> {
    let url = reqwest::Url::parse(&delivery.url)
        .map_err(|err| failed("invalid_url", format!("{}: {err}", delivery.url)))?;
    target_policy::check_literal_host(&url, allow_private)
        .map_err(|refused| failed("target_refused", refused.to_string()))?;
    let secrets = webhook_secrets.map_err(|err| failed("secret_unavailable", err))?;
    let signatures = signing::signature_headers(
        &secrets,
        delivery.signature_scheme,
        &delivery.event_id,
        &delivery.body,
        now_millis(),
    );
    Ok((url, signatures))
}

async fn post(
    client: &reqwest::Client,
    delivery: &ClaimedDelivery,
    url: reqwest::Url,
    signatures: Headers,
) -> (AttemptResult, Option<String>) {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in signatures {
        request = request.header(name, value);
    }
    let mut request = request
        .header(header::EVENT_ID, &delivery.event_id)
        .header(header::EVENT_TYPE, delivery.event_type.as_str())
        .header(
            header::DELIVERY_ATTEMPT,
            delivery.attempt_number.to_string(),
        )
        .body(delivery.body.clone());
    if delivery.test {
        request = request.header(TEST_HEADER, "true");
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(err) => return (transport_failure(&err), None),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, chrono::Utc::now()));
    let excerpt = read_excerpt(&mut response).await;
    let code = status.as_u16();
    let result = if status.is_success() {
        AttemptResult::Acknowledged { status: code }
    } else if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("(none)");
        AttemptResult::Failed {
            status: Some(code),
            error_kind: "redirect".into(),
            error: format!(
                "HTTP {code} redirect to {location}; redirects are never followed, map the final URL instead"
            ),
            retry_after: None,
        }
    } else {
        let honoured = matches!(code, 429 | 503).then_some(retry_after).flatten();
        AttemptResult::Failed {
            status: Some(code),
            error_kind: "http_status".into(),
            error: format!("HTTP {code}"),
            retry_after: honoured,
        }
    };
    (result, excerpt)
}

/// Reads at most [`RESPONSE_EXCERPT_BYTES`] of the body, then stops.
async fn read_excerpt(response: &mut reqwest::Response) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_EXCERPT_BYTES - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

fn transport_failure(err: &reqwest::Error) -> AttemptResult {
    if let Some(refused) = target_policy::refusal_in(err) {
        return failed("target_refused", refused.to_string());
    }
    if let Some(tls) = tls_failure_in(err) {
        return failed(tls.kind, format!("{}; {}", describe(err), tls.hint));
    }
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "transport"
    };
    failed(kind, describe(err))
}

/// The error with its chain of causes, which is where reqwest keeps the useful part.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
