//! The ingest API: klikit's order platform pushes order changes here.
//!
//! `POST /v1/ingest/orders` takes one `{"event", "order"}`; `POST
//! /v1/ingest/orders/batch` takes `{"items": [...]}` of up to [`MAX_BATCH_ITEMS`]. Both
//! write the order records and every delivery they cause in one transaction before
//! answering, so a 2xx survives a crash.

use super::AppState;
use super::error::ApiError;
use super::extract::{self, RawBody};
use super::openapi::{ErrorBody, EventTypeName, IngestBatchData, IngestOneData, IngestOrder};
use crate::store::freshness::latest_acceptable;
use crate::store::{IdempotencyKey, IngestItem, IngestRequest, Millis, now_millis};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use klikit_webhook::{EventType, Order};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod validate;

/// The most changes one batch push may carry.
pub const MAX_BATCH_ITEMS: usize = 1000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest_one))
        .routes(routes!(ingest_batch))
}

/// One pushed order change.
#[derive(ToSchema)]
#[allow(dead_code)]
struct IngestChange {
    #[schema(value_type = EventTypeName)]
    event: String,
    #[schema(value_type = IngestOrder)]
    order: serde_json::Value,
}

/// Several pushed order changes, written in one transaction, in order.
#[derive(ToSchema)]
#[allow(dead_code)]
struct IngestBatch {
    /// 1 to 1000 changes.
    #[schema(min_items = 1, max_items = 1000)]
    items: Vec<IngestChange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody<'a> {
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    #[serde(borrow)]
    order: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody<'a> {
    #[serde(borrow)]
    items: Option<Vec<&'a RawValue>>,
}

/// Push one order change.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "ingest",
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional, 1 to 255 visible ASCII characters. A retried push with the same key and the same body gets the first answer again and writes nothing twice.")),
    request_body = IngestChange,
    responses(
        (status = 202, description = "Stored durably with every delivery it causes (`result: stored`), or acknowledged and ignored because the stored record is newer (`ignored_stale`).", body = IngestOneData),
        (status = 400, description = "`request_invalid`: the body, the event type or an order field is wrong (named in `details.field`), or the Idempotency-Key header is malformed.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit (HOOKIT_MAX_BODY_BYTES).", body = ErrorBody),
        (status = 422, description = "`request_idempotency_mismatch`: the Idempotency-Key was used with a different body.", body = ErrorBody),
    ),
)]
async fn ingest_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = now_millis();
    extract::refuse_unreadable_json(&raw)?;
    let item = parse_item(&raw, "", latest_acceptable(now, state.freshness_skew))?;
    let outcome = store(&state, &headers, &raw, vec![item], now).await?;
    let mut data = outcome
        .results
        .first()
        .map(|result| json!(result))
        .unwrap_or_else(|| json!({}));
    data["idempotent_replay"] = json!(outcome.idempotent_replay);
    Ok((StatusCode::ACCEPTED, Json(json!({ "data": data }))))
}

/// Push up to 1000 order changes in one transaction.
#[utoipa::path(
    post,
    path = "/orders/batch",
    tag = "ingest",
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional, 1 to 255 visible ASCII characters. A retried push with the same key and the same body gets the first answer again and writes nothing twice.")),
    request_body = IngestBatch,
    responses(
        (status = 202, description = "Every change stored (or ignored as stale), in order, with the deliveries they cause.", body = IngestBatchData),
        (status = 400, description = "`request_invalid`: `items` is missing, empty or over 1000, or one item is wrong (named as `items[i]…` in `details.field`); nothing was written.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit (HOOKIT_MAX_BODY_BYTES).", body = ErrorBody),
        (status = 422, description = "`request_idempotency_mismatch`: the Idempotency-Key was used with a different body.", body = ErrorBody),
    ),
)]
async fn ingest_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    extract::refuse_unreadable_json(&raw)?;
    let body: BatchBody<'_> = serde_json::from_slice(&raw).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            format!("the body must be {{\"items\": [{{\"event\", \"order\"}}, ...]}}: {err}"),
        )
    })?;
    let items = body
        .items
        .ok_or_else(|| ApiError::invalid_field("items", "is required"))?;
    if items.is_empty() {
        return Err(ApiError::invalid_field("items", "must not be empty"));
    }
    if items.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::invalid_field(
            "items",
            format!(
                "has {} entries; at most {MAX_BATCH_ITEMS} per batch",
                items.len()
            ),
        ));
    }
    let now = now_millis();
    let latest = latest_acceptable(now, state.freshness_skew);
    let parsed = items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_item(item.get().as_bytes(), &format!("items[{index}]."), latest))
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = store(&state, &headers, &raw, parsed, now).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "data": outcome }))))
}

async fn store(
    state: &AppState,
    headers: &HeaderMap,
    raw: &[u8],
    items: Vec<IngestItem>,
    now: Millis,
) -> Result<crate::store::IngestOutcome, ApiError> {
    let idempotency = idempotency(headers, raw)?;
    let outcome = state
        .store
        .ingest(IngestRequest {
            items,
            idempotency,
            now,
            freshness_skew: state.freshness_skew,
        })
        .await?;
    if !outcome.idempotent_replay {
        for result in &outcome.results {
            state.metrics.ingested(&result.event, &result.result, 1);
        }
    }
    Ok(outcome)
}

/// The `Idempotency-Key` header, bound to a digest of the body it came with.
fn idempotency(headers: &HeaderMap, raw: &[u8]) -> Result<Option<IdempotencyKey>, ApiError> {
    Ok(
        extract::idempotency_key(headers)?.map(|key| IdempotencyKey {
            key,
            request_digest: hex::encode(Sha256::digest(raw)),
        }),
    )
}

/// Parses and checks one `{"event", "order"}`; `latest_updated_at` is the latest
/// platform `updated_at` accepted (see [`crate::store::freshness::latest_acceptable`]).
pub(crate) fn parse_item(
    raw: &[u8],
    prefix: &str,
    latest_updated_at: Millis,
) -> Result<IngestItem, ApiError> {
    let body: ItemBody<'_> = serde_json::from_slice(raw).map_err(|err| {
        let what = if prefix.is_empty() {
            "the body"
        } else {
            prefix.trim_end_matches('.')
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            format!("{what} must be {{\"event\": \"<event type>\", \"order\": {{...}}}}: {err}"),
        )
    })?;
    let event_field = format!("{prefix}event");
    let event = body
        .event
        .ok_or_else(|| ApiError::invalid_field(&event_field, "is required"))?;
    let event: String = serde_json::from_str(event.get())
        .map_err(|_| ApiError::invalid_field(&event_field, "must be a string"))?;
    let event_type: EventType = event
        .parse()
        .map_err(|err| ApiError::invalid_field(&event_field, err))?;
    let order_field = format!("{prefix}order");
    let order = body
        .order
        .ok_or_else(|| ApiError::invalid_field(&order_field, "is required"))?;
    let order = Order::from_raw(order).map_err(|err| ApiError::invalid_field(&order_field, err))?;
    validate::order(&order, &order_field, latest_updated_at)?;
    Ok(IngestItem { event_type, order })
}
