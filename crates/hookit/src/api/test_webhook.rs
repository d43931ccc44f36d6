//! Test webhooks: a partner (or an operator for it) asks for a signed sample delivery
//! to one of its mapped URLs and is told how its endpoint answered.
//!
//! The handler never sends anything itself: it stores a test delivery and waits, by
//! reading the store, for whichever process's dispatcher attempts it (at most the
//! attempt timeout plus two seconds). The sample order has a negative id and is not
//! stored as an order. Each serving process admits a few tests per minute per partner.

use super::AppState;
use super::error::ApiError;
use crate::ids::IdKind;
use crate::store::{DeliveryDetail, Mapping, NewTestDelivery, now_millis};
use axum::http::StatusCode;
use klikit_webhook::EventType;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// How many test webhooks one partner may ask for per minute, per serving process.
pub const TESTS_PER_MINUTE: usize = 5;

/// How long past the attempt timeout a test waits for its outcome.
const WAIT_MARGIN: Duration = Duration::from_secs(2);

/// What a test webhook is asked with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestWebhookRequest {
    /// The event type to send a sample of (a wire name, e.g. `klikit.order.created.v2`).
    event_type: String,
    /// One of the partner's own mapped URLs; by default the URL mapped for the event
    /// type on the partner's first mapping of it.
    #[serde(default)]
    url: Option<String>,
}

impl TestWebhookRequest {
    /// A request for a sample of `event_type` (a wire name), sent to `url` (one of the
    /// partner's mapped URLs) or, without one, to the URL mapped for the event type.
    pub fn new(event_type: impl Into<String>, url: Option<String>) -> Self {
        TestWebhookRequest {
            event_type: event_type.into(),
            url,
        }
    }
}

/// The rate limit and the wait bound of test webhooks in this process.
#[derive(Debug)]
pub struct TestWebhooks {
    wait: Duration,
    recent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl TestWebhooks {
    /// Tests wait up to `attempt_timeout` plus two seconds for their outcome.
    pub fn new(attempt_timeout: Duration) -> Self {
        TestWebhooks {
            wait: attempt_timeout + WAIT_MARGIN,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a test for the partner, or says in how many seconds one is allowed.
    fn admit(&self, partner_id: &str) -> Result<(), u64> {
        let now = Instant::now();
        let window = Duration::from_secs(60);
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recent.retain(|_, times| {
            times.retain(|at| now.duration_since(*at) < window);
            !times.is_empty()
        });
        let times = recent.entry(partner_id.to_owned()).or_default();
        if times.len() >= TESTS_PER_MINUTE {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        times.push_back(now);
        Ok(())
    }
}

/// A refused test, with the seconds to wait when it was rate limited.
pub struct Refused {
    pub error: ApiError,
    pub retry_after: Option<u64>,
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Refused {
            error,
            retry_after: None,
        }
    }
}

impl From<crate::store::StoreError> for Refused {
    fn from(error: crate::store::StoreError) -> Self {
        Refused::from(ApiError::from(error))
    }
}

/// Stores a test delivery for the partner and waits for its outcome; answers
/// `{event_id, url, status_code, latency_ms, response_excerpt, error,
/// signature_rejected_likely}`.
pub async fn run(
    state: &AppState,
    partner_id: &str,
    request: TestWebhookRequest,
) -> Result<Value, Refused> {
    let event_type: EventType = request.event_type.parse().map_err(|_| {
        ApiError::invalid_field(
            "event_type",
            format!(
                "{:?} is not an event type; use klikit.order.created.v2, \
                 klikit.order.status.updated or klikit.order.cart.updated",
                request.event_type
            ),
        )
    })?;
    let mappings = state.store.list_mappings(Some(partner_id)).await?;
    let mapping = choose_mapping(&mappings, event_type, request.url.as_deref())?;
    if let Err(wait) = state.test_webhooks.admit(partner_id) {
        return Err(Refused {
            error: ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "at most {TESTS_PER_MINUTE} test webhooks per minute per partner; \
                     try again in {wait} s"
                ),
            ),
            retry_after: Some(wait),
        });
    }
    let first = &mappings[0];
    let brand_id = first.brand_id;
    let branch_id = first.branch_id.or(mapping.branch_id).unwrap_or(0);
    let now = now_millis();
    let order_id = -now;
    let body = sample_body(event_type, brand_id, branch_id, order_id, now);
    let event_id = IdKind::Event.generate();
    state
        .store
        .create_test_delivery(NewTestDelivery {
            event_id: event_id.clone(),
            partner_id: partner_id.to_owned(),
            mapping_id: mapping.id.clone(),
            event_type,
            brand_id,
            branch_id,
            order_id,
            body,
            now,
        })
        .await?;
    let outcome = wait_for_attempt(state, &event_id).await?;
    Ok(answer(
        &event_id,
        &mapping.url,
        outcome,
        state.test_webhooks.wait,
    ))
}

/// The mapping whose URL the test goes to: the given URL (one of the partner's own),
/// or the URL mapped for the event type.
fn choose_mapping<'a>(
    mappings: &'a [Mapping],
    event_type: EventType,
    url: Option<&str>,
) -> Result<&'a Mapping, ApiError> {
    if mappings.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state_conflict",
            "this partner has no mapped URL yet; an operator maps one with `hookit map`, \
             then a test webhook can be sent to it",
        ));
    }
    match url {
        Some(url) => {
            let same_url: Vec<&Mapping> = mappings.iter().filter(|m| m.url == url).collect();
            same_url
                .iter()
                .find(|m| m.event_type == event_type)
                .or_else(|| same_url.first())
                .copied()
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "url",
                        "is not one of this partner's mapped URLs; GET /v1/partner/webhooks \
                         lists them, or leave url out to use the URL mapped for event_type",
                    )
                })
        }
        None => mappings
            .iter()
            .find(|m| m.event_type == event_type)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "event_type",
                    format!(
                        "no URL is mapped for {}; pass one of this partner's mapped URLs as url",
                        event_type.as_str()
                    ),
                )
            }),
    }
}

/// The body of a test delivery: one sample order, with a negative id, on the
/// partner's first mapped brand and branch.
fn sample_body(
    event_type: EventType,
    brand_id: i64,
    branch_id: i64,
    order_id: i64,
    now: i64,
) -> Vec<u8> {
    let at = crate::store::time_text::rfc3339(now);
    let status = match event_type {
        EventType::OrderCreated => 1,
        _ => 2,
    };
    let order = json!({
        "id": order_id,
        "external_id": "HOOKIT-TEST",
        "business_id": 0,
        "brands": [{ "id": brand_id, "title": "hookit test webhook" }],
        "branch_id": branch_id,
        "status": status,
        "cart": [{
            "id": 1, "name": "Sample item", "quantity": 1,
            "unit_price": "10000.00", "price": "10000.00"
        }],
        "payment_status": 1,
        "payment_channel": 1,
        "payment_method": 1,
        "placed_at": at,
        "updated_at": at,
        "version": 1,
    });
    json!({ "brand_id": brand_id, "branch_id": branch_id, "orders": [order] })
        .to_string()
        .into_bytes()
}

/// Reads the test delivery until its attempt is recorded or the wait is over.
async fn wait_for_attempt(
    state: &AppState,
    event_id: &str,
) -> Result<Option<DeliveryDetail>, Refused> {
    let deadline = Instant::now() + state.test_webhooks.wait;
    loop {
        let detail = state.store.get_delivery(event_id).await?;
        if detail.as_ref().is_some_and(|d| !d.attempts.is_empty()) {
            return Ok(detail);
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn answer(event_id: &str, url: &str, outcome: Option<DeliveryDetail>, waited: Duration) -> Value {
    let Some(attempt) = outcome.and_then(|d| d.attempts.into_iter().next()) else {
        return json!({
            "event_id": event_id,
            "url": url,
            "status_code": null,
            "latency_ms": null,
            "response_excerpt": null,
            "error": format!(
                "no attempt finished within {} s; the dispatcher may be busy with this \
                 URL's host, or the partner is disabled. The test is not retried.",
                waited.as_secs()
            ),
            "signature_rejected_likely": false,
        });
    };
    let rejected =
        signature_rejected_likely(attempt.status_code, attempt.response_excerpt.as_deref());
    json!({
        "event_id": event_id,
        "url": url,
        "status_code": attempt.status_code,
        "latency_ms": attempt.duration_ms,
        "response_excerpt": attempt.response_excerpt,
        "error": attempt.error,
        "signature_rejected_likely": rejected,
    })
}

/// A 401 or 403, or a 400 whose body speaks of the signature: most likely the
/// receiver verified with another secret, or over re-serialised JSON.
fn signature_rejected_likely(status: Option<u16>, excerpt: Option<&str>) -> bool {
    match status {
        Some(401 | 403) => true,
        Some(400 | 422) => {
            excerpt.is_some_and(|text| text.to_ascii_lowercase().contains("signature"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_tests_per_minute_per_partner() {
        let tests = TestWebhooks::new(Duration::from_secs(1));
        for _ in 0..TESTS_PER_MINUTE {
            assert!(tests.admit("prt_a").is_ok());
        }
        assert!(tests.admit("prt_a").is_err());
        assert!(
            tests.admit("prt_b").is_ok(),
            "each partner counts on its own"
        );
    }

    #[test]
    fn refusals_that_name_the_signature_are_flagged() {
        assert!(signature_rejected_likely(Some(401), None));
        assert!(signature_rejected_likely(Some(400), Some("Bad Signature")));
        assert!(!signature_rejected_likely(Some(400), Some("bad cart")));
        assert!(!signature_rejected_likely(Some(500), Some("signature")));
        assert!(!signature_rejected_likely(None, None));
    }
}
