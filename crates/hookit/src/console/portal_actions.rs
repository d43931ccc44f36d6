//! What a partner does in its portal: replay one of its own dead deliveries and send
//! itself a test webhook. Each goes through the partner API's own path (replay:
//! `api::partner::deliveries::replay_own`, audited as `partner:prt_…`; test webhook:
//! `api::test_webhook::run`), so both are scoped and limited exactly as over the API:
//! another partner's event id answers as a missing one does.

use super::ConsoleError;
use super::delivery_view::refusal;
use super::layout::{self, Chrome};
use super::portal::delivery_page;
use super::session::PartnerForm;
use crate::api::AppState;
use crate::api::partner::deliveries::replay_own;
use crate::api::test_webhook::{self, TestWebhookRequest};
use crate::store::Mapping;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use klikit_webhook::EventType;
use maud::{Markup, html};
use serde_json::Value;

/// `POST /console/partner/deliveries/{event_id}/replay`: as
/// `POST /v1/partner/deliveries/{event_id}/replay`.
pub(crate) async fn replay(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    form: PartnerForm,
) -> Result<Response, ConsoleError> {
    let session = &form.session;
    match replay_own(&state, &session.partner.id, &event_id).await {
        Ok(_) => Ok(Redirect::to(&format!(
            "/console/partner/deliveries/{event_id}?done=replayed"
        ))
        .into_response()),
        Err(error) if error.status == StatusCode::CONFLICT => {
            let page = delivery_page(&state, session, &event_id, refusal(&error)).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

/// The form that sends the partner a test webhook: an event type it has a URL for,
/// and optionally which of its URLs.
pub(crate) fn test_webhook_form(mappings: &[Mapping], csrf: &str) -> Markup {
    let mut urls: Vec<&str> = mappings.iter().map(|m| m.url.as_str()).collect();
    urls.sort_unstable();
    urls.dedup();
    let event_types: Vec<EventType> = EventType::ALL
        .into_iter()
        .filter(|e| mappings.iter().any(|m| m.event_type == *e))
        .collect();
    html! {
        section class="card" aria-labelledby="test-webhook" {
            h2 id="test-webhook" { "Send a test webhook" }
            @if mappings.is_empty() {
                p { "No URL is mapped yet; ask your klikit contact to map one." }
            } @else {
                p { "A signed sample order (a negative order id, marked " code { "x-klikit-test: true" } ") sent to one of your URLs now and attempted once; you see how your endpoint answered." }
                form class="filters test-webhook" method="post" action="/console/partner/webhooks/test" {
                    (layout::csrf_field(csrf))
                    label { "Event type "
                        select name="event_type" id="test_event_type" {
                            @for event in &event_types {
                                option value=(event.as_str()) { (event.as_str()) }
                            }
                        }
                    }
                    label { "URL "
                        select name="url" id="test_url" {
                            option value="" { "the URL mapped for the event type" }
                            @for url in &urls {
                                option value=(url) { (url) }
                            }
                        }
                    }
                    button type="submit" { "Send a test webhook" }
                }
            }
        }
    }
}

/// `POST /console/partner/webhooks/test`: as `POST /v1/partner/webhooks/test`; the
/// page says how the endpoint answered.
pub(crate) async fn test_webhook(
    State(state): State<AppState>,
    form: PartnerForm,
) -> Result<Response, ConsoleError> {
    let request = TestWebhookRequest::new(
        form.fields.required("event_type")?,
        form.fields.get("url").map(str::to_owned),
    );
    let session = &form.session;
    let outcome = match test_webhook::run(&state, &session.partner.id, request).await {
        Ok(outcome) => outcome,
        Err(refused) => {
            let mut response = ConsoleError::from(refused.error).into_response();
            if let Some(seconds) = refused.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return Ok(response);
        }
    };
    let mappings = state.store.list_mappings(Some(&session.partner.id)).await?;
    let content = html! {
        (test_outcome(&outcome))
        p { a href="/console/partner/deliveries" { "← My deliveries" } }
        (test_webhook_form(&mappings, &session.csrf))
    };
    Ok(layout::page("Test webhook", Chrome::Partner(session), content).into_response())
}

/// How the endpoint answered a test webhook: delivered (a 2xx), or failed with its
/// status or error.
fn test_outcome(outcome: &Value) -> Markup {
    let status = outcome["status_code"].as_u64();
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let text = |name: &str| outcome[name].as_str().unwrap_or_default().to_owned();
    html! {
        @if delivered {
            p class="notice" role="status" {
                strong { "✓ Delivered: " }
                "your endpoint answered " (status.unwrap_or_default())
                @if let Some(ms) = outcome["latency_ms"].as_u64() { " in " (ms) " ms" }
                "."
            }
        } @else {
            p class="error" role="alert" {
                strong { "✗ Failed: " }
                @match status {
                    Some(status) => { "your endpoint answered " (status) ", which is not a 2xx." }
                    None => { (text("error")) }
                }
            }
        }
        @if outcome["signature_rejected_likely"].as_bool() == Some(true) {
            p class="hint" { "Your endpoint seems to have refused the signature: verify x-klikit-signature over the raw body bytes, before parsing, with your webhook_secret_key." }
        }
        dl class="facts" {
            dt { "Event id" } dd class="mono" { (text("event_id")) }
            dt { "URL" } dd class="mono wrap" { (text("url")) }
            dt { "Status" } dd { @match status { Some(status) => (status), None => "—" } }
            dt { "Latency" } dd { @match outcome["latency_ms"].as_u64() { Some(ms) => { (ms) " ms" }, None => "—" } }
            dt { "Error" } dd { @match outcome["error"].as_str() { Some(error) => (error), None => "—" } }
            dt { "Response excerpt" } dd { @match outcome["response_excerpt"].as_str() { Some(excerpt) => { pre class="excerpt" { (excerpt) } }, None => "—" } }
        }
        p class="hint" { "A test webhook is attempted once: it is never retried, listed among your deliveries or replayed." }
    }
}
