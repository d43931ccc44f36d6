//! The request handler of `hookit listen`: verify, then (on purpose) fail, wait,
//! de-dupe, forward and print, in that order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use klikit_webhook::axum::WebhookSecretKey;
use klikit_webhook::{Dedupe, DedupeError, Rejection, SignatureError, WebhookEvent, header};

use super::diagnosis::{Diagnosis, diagnose};
use super::forward::Forwarder;
use super::report::{self, Outcome};

#[derive(Clone)]
pub(super) struct ListenState {
    pub(super) secret: WebhookSecretKey,
    pub(super) dedupe: Arc<dyn Dedupe>,
    pub(super) fail_first: u32,
    /// Deliveries answered 500 so far, per event id (for `--fail-first`).
    pub(super) failures: Arc<tokio::sync::Mutex<HashMap<String, u32>>>,
    pub(super) json: bool,
    pub(super) delay: Option<Duration>,
    pub(super) forwarder: Option<Forwarder>,
}

impl FromRef<ListenState> for WebhookSecretKey {
    fn from_ref(state: &ListenState) -> Self {
        state.secret.clone()
    }
}

impl ListenState {
    /// Counts a delivery of `event_id` against `--fail-first`; `Some(n)` means answer
    /// 500 as the n-th failure.
    async fn take_planned_failure(&self, event_id: &str) -> Option<u32> {
        if self.fail_first == 0 {
            return None;
        }
        let mut failures = self.failures.lock().await;
        let count = failures.entry(event_id.to_owned()).or_insert(0);
        (*count < self.fail_first).then(|| {
            *count += 1;
            *count
        })
    }

    /// Verifies and parses one delivery.
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, Rejection> {
        klikit_webhook::receive_any(self.secret.all(), headers, body)
    }
}

fn status_response(status: &str) -> Response {
    Json(serde_json::json!({ "status": status })).into_response()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

pub(super) async fn deliver(
    State(state): State<ListenState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event = match state.verify(&headers, &body) {
        Ok(event) => event,
        Err(rejection) => return reject(&state, &headers, &body, &rejection),
    };
    if let Some(nth) = state.take_planned_failure(&event.event_id).await {
        let outcome = Outcome::PlannedFailure {
            nth,
            of: state.fail_first,
        };
        report::print(&event, &outcome, state.json);
        let message = format!(
            "planned failure {nth} of {} for this event id (--fail-first)",
            state.fail_first
        );
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "fail_first", &message);
    }
    if let Some(delay) = state.delay {
        tokio::time::sleep(delay).await;
    }
    let seen = match already_handled(&state, &event.event_id).await {
        Ok(seen) => seen,
        Err(err) => return dedupe_failed(&event.event_id, &err),
    };
    if let Some(forwarder) = &state.forwarder {
        return forward(&state, forwarder, &event, seen, &headers, body).await;
    }
    if seen {
        report::print(&event, &Outcome::Duplicate, state.json);
        return status_response("duplicate-ignored");
    }
    report::print(&event, &Outcome::Handled, state.json);
    // Recorded only now that the event was handled (printed).
    match record_handled(&state, &event.event_id).await {
        Ok(()) => status_response("ok"),
        Err(err) => dedupe_failed(&event.event_id, &err),
    }
}

/// Hands the delivery to the partner's application; its answer is ours. An event id
/// counts as handled once the application acknowledged it.
async fn forward(
    state: &ListenState,
    forwarder: &Forwarder,
    event: &WebhookEvent,
    seen: bool,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let answer = match forwarder.forward(headers, body).await {
        Ok(answer) => answer,
        Err(err) => {
            let error = err.to_string();
            let outcome = Outcome::ForwardFailed {
                error: error.clone(),
            };
            report::print(event, &outcome, state.json);
            return error_response(StatusCode::BAD_GATEWAY, "forward_failed", &error);
        }
    };
    let outcome = Outcome::Forwarded {
        status: answer.status.as_u16(),
        duplicate: seen,
    };
    report::print(event, &outcome, state.json);
    if answer.acknowledged() && !seen {
        if let Err(err) = record_handled(state, &event.event_id).await {
            eprintln!(
                "hookit listen: de-dupe failed for {}: {err}",
                event.event_id
            );
        }
    }
    answer.into_response()
}

/// Prints the rejection, naming the event id and attempt, and answers it. A signature
/// mismatch also says what most likely caused it.
fn reject(
    state: &ListenState,
    headers: &HeaderMap,
    body: &[u8],
    rejection: &Rejection,
) -> Response {
    let mut message = rejection.to_string();
    if let Rejection::Signature(SignatureError::Mismatch) = rejection {
        let signature = headers
            .get(header::SIGNATURE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        // With several secrets, a re-serialised body shows under the one that signed it.
        let diagnoses = state
            .secret
            .all()
            .iter()
            .map(|secret| diagnose(secret, body, signature));
        let mut first = None;
        let mut reserialised = None;
        for diagnosis in diagnoses {
            if reserialised.is_none() && matches!(diagnosis, Diagnosis::Reserialised { .. }) {
                reserialised = Some(diagnosis);
            } else if first.is_none() {
                first = Some(diagnosis);
            }
        }
        let diagnosis = reserialised
            .or(first)
            .unwrap_or_else(|| diagnose(state.secret.expose(), body, signature));
        message = format!(
            "{message}. Diagnosis ({}): {}",
            diagnosis.code(),
            diagnosis.explain()
        );
    }
    eprintln!(
        "hookit listen: rejected {}{} ({} {}): {message}",
        printable_header(headers, header::EVENT_ID)
            .unwrap_or_else(|| "a delivery without an event id".to_owned()),
        printable_header(headers, header::DELIVERY_ATTEMPT)
            .map(|attempt| format!(" attempt={attempt}"))
            .unwrap_or_default(),
        rejection.status_code(),
        rejection.code()
    );
    let status = StatusCode::from_u16(rejection.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    error_response(status, rejection.code(), &message)
}

/// A header's value when it is short visible ASCII, safe to print on a terminal.
fn printable_header(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.as_bytes();
    let printable = !value.is_empty()
        && value.len() <= klikit_webhook::receive::MAX_EVENT_ID_LEN
        && value.iter().all(u8::is_ascii_graphic);
    printable.then(|| String::from_utf8_lossy(value).into_owned())
}

async fn already_handled(state: &ListenState, event_id: &str) -> Result<bool, String> {
    let dedupe = Arc::clone(&state.dedupe);
    let event_id = event_id.to_owned();
    flatten(tokio::task::spawn_blocking(move || dedupe.already_handled(&event_id)).await)
}

async fn record_handled(state: &ListenState, event_id: &str) -> Result<(), String> {
    let dedupe = Arc::clone(&state.dedupe);
    let event_id = event_id.to_owned();
    flatten(tokio::task::spawn_blocking(move || dedupe.record_handled(&event_id)).await)
}

fn flatten<T>(joined: Result<Result<T, DedupeError>, tokio::task::JoinError>) -> Result<T, String> {
    joined
        .map_err(|err| err.to_string())
        .and_then(|result| result.map_err(|err| err.to_string()))
}

fn dedupe_failed(event_id: &str, err: &str) -> Response {
    eprintln!("hookit listen: de-dupe failed for {event_id}: {err}");
    let message = format!("de-dupe store failed, retry later: {err}");
    error_response(StatusCode::SERVICE_UNAVAILABLE, "dedupe_failed", &message)
}
