//! `PATCH /v1/partner/orders/{id}/status`: a partner moves an order along, once per
//! `Idempotency-Key`.

use super::in_flight;
use super::orders::{Reply, order_id, order_not_found, reply};
use super::{PartnerError, PartnerIdentity, PartnerReply, RequestId};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{self, RawBody, parse_json};
use crate::api::openapi::{PartnerErrorBody, PartnerOrderData, StatusChangeBody};
use crate::order_flow::{self, REASON_CODES, RequestedStatus};
use crate::store::{Millis, PartnerOrderChange, StoreError, StoredAnswer, now_millis};
use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use klikit_webhook::{EventType, Order, OrderStatus, Timestamp};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// How many times a status change is recomputed when the order moves on under it.
const COMMIT_TRIES: usize = 3;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
    #[serde(default)]
    reason_code: Option<String>,
    #[serde(default)]
    occurred_at: Option<String>,
}

/// Move an order along: accept, ready, picked up, reject or cancel.
#[utoipa::path(
    patch,
    path = "/orders/{id}/status",
    tag = "partner",
    operation_id = "updateOrderStatus",
    params(
        ("id" = i64, Path, description = "klikit's order id."),
        ("Idempotency-Key" = String, Header, description = "Required: a unique value per intended change (1 to 255 visible ASCII characters), reused on retries. A retry with the same key and body gets the first answer again."),
    ),
    request_body = StatusChangeBody,
    responses(
        (status = 200, description = "The updated order record (`version` + 1). `klikit.order.status.updated` is emitted to the order's mapped partners.", body = PartnerOrderData),
        (status = 400, description = "`request_missing_idempotency_key`: no Idempotency-Key header; `request_invalid`: the header or the body is wrong (named in `details.field`).", body = PartnerErrorBody),
        (status = 404, description = "`resource_not_found`: no such order, or one this partner is not mapped to.", body = PartnerErrorBody),
        (status = 409, description = "`state_invalid_transition`: the order's current status does not allow it (`details.current`, `details.requested`); `state_conflict`: the order kept changing, retry with the same key; `request_in_progress`: another request with this key is still being handled after 10 s, retry with the same key.", body = PartnerErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = PartnerErrorBody),
        (status = 422, description = "`request_idempotency_mismatch`: the Idempotency-Key was already used for a different request.", body = PartnerErrorBody),
    ),
)]
pub(super) async fn change_status(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Reply {
    let fail = |error: ApiError| PartnerError::new(&request_id, error);
    let Path(raw_id) = path.map_err(|rejection| fail(extract::path_rejection(&rejection)))?;
    let key = idempotency_key(&headers).map_err(fail)?;
    let scope = format!("partner:{}", partner.id);
    let digest = hex::encode(Sha256::digest([raw_id.as_bytes(), b"\n", &raw].concat()));
    // One request per key at a time in this process; the rest wait for its answer.
    let _turn = state
        .status_changes
        .enter(format!("{scope}\n{key}"), in_flight::WAIT)
        .await
        .ok_or_else(|| {
            fail(ApiError::new(
                StatusCode::CONFLICT,
                "request_in_progress",
                format!(
                    "another request with the Idempotency-Key {key:?} is still being handled; retry with the same key shortly to get its answer"
                ),
            ))
        })?;
    for _ in 0..COMMIT_TRIES {
        if let Some(first) = state
            .store
            .idempotent_answer(&scope, &key)
            .await
            .map_err(|err| fail(err.into()))?
        {
            return replay_answer(&request_id, first, &digest, &key);
        }
        let id = order_id(&raw_id).map_err(fail)?;
        let change: StatusChange = parse_json(&raw).map_err(fail)?;
        let current = state
            .store
            .get_order_for_partner(&partner.id, id)
            .await
            .map_err(|err| fail(err.into()))?
            .ok_or_else(|| fail(order_not_found(&raw_id)))?;
        let now = now_millis();
        let next = match next_record(&current.record, current.version, &change, now) {
            Ok(next) => next,
            // Another process may have answered this key since it was looked up: its
            // answer is the one to give.
            Err(error) => {
                return match state.store.idempotent_answer(&scope, &key).await {
                    Ok(Some(first)) => replay_answer(&request_id, first, &digest, &key),
                    _ => Err(fail(error)),
                };
            }
        };
        let data = next.to_json_bytes();
        let commit = state
            .store
            .commit_partner_change(PartnerOrderChange {
                partner_id: partner.id.clone(),
                expected_version: current.version,
                order: next,
                event_type: EventType::OrderStatusUpdated,
                idempotency_scope: scope.clone(),
                idempotency_key: key.clone(),
                answer: StoredAnswer {
                    request_digest: digest.clone(),
                    status: 200,
                    body: data.clone(),
                },
                now,
            })
            .await;
        match commit {
            Ok(()) => return Ok(reply(&request_id, data)),
            // The order moved on, or a concurrent request used the key: look again.
            Err(StoreError::Conflict(_)) => continue,
            Err(err) => return Err(fail(err.into())),
        }
    }
    Err(fail(ApiError::new(
        StatusCode::CONFLICT,
        "state_conflict",
        "the order kept changing while this request was handled; retry with the same Idempotency-Key",
    )))
}

/// The `Idempotency-Key` header, which status changes must carry.
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    extract::idempotency_key(headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_missing_idempotency_key",
            "status changes need an `Idempotency-Key` header (a unique value per intended change, reused on retries)",
        )
    })
}

/// The first answer again, if this is the same request; a 422 if the key was used
/// for a different one.
fn replay_answer(request_id: &RequestId, first: StoredAnswer, digest: &str, key: &str) -> Reply {
    if first.request_digest != digest {
        return Err(PartnerError::new(
            request_id,
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "request_idempotency_mismatch",
                format!(
                    "the Idempotency-Key {key:?} was already used with a different request; use a new key for a new change"
                ),
            ),
        ));
    }
    Ok(PartnerReply {
        status: StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK),
        request_id: request_id.0.clone(),
        data: first.body,
    })
}

/// The record after the change: new status, next version, hookit's time of the change
/// as `updated_at`, the partner's `occurred_at` in a field of its own and, for a
/// cancellation, its reason. A partner's clock never becomes the order's `updated_at`,
/// which stays the platform's and hookit's (see `store::freshness`).
fn next_record(
    record: &[u8],
    version: i64,
    change: &StatusChange,
    now: Millis,
) -> Result<Order, ApiError> {
    let requested = RequestedStatus::parse(&change.status).ok_or_else(|| {
        ApiError::invalid_field(
            "status",
            format!("must be one of {}", RequestedStatus::NAMES),
        )
    })?;
    match (&change.reason_code, requested.needs_reason()) {
        (None, true) => {
            return Err(ApiError::invalid_field(
                "reason_code",
                format!(
                    "is required to reject or cancel an order; one of {}",
                    REASON_CODES.join(", ")
                ),
            ));
        }
        (Some(code), true) if !REASON_CODES.contains(&code.as_str()) => {
            return Err(ApiError::invalid_field(
                "reason_code",
                format!("must be one of {}", REASON_CODES.join(", ")),
            ));
        }
        (Some(_), false) => {
            return Err(ApiError::invalid_field(
                "reason_code",
                "applies only to rejected and cancelled",
            ));
        }
        _ => {}
    }
    let occurred = change
        .occurred_at
        .as_deref()
        .map(Timestamp::parse)
        .transpose()
        .map_err(|err| {
            ApiError::invalid_field("occurred_at", format!("must be an RFC 3339 time: {err}"))
        })?;
    let mut order = Order::from_json_bytes(record)
        .map_err(|err| StoreError::Backend(format!("stored order record is unreadable: {err}")))?;
    let current = order.status.unwrap_or(OrderStatus::Unknown(0));
    let status = order_flow::transition(current, requested).map_err(|err| {
        ApiError::new(StatusCode::CONFLICT, "state_invalid_transition", err.to_string()).with_details(
            json!({ "current": current.name(), "current_code": current.code(), "requested": requested.as_str() }),
        )
    })?;
    order.status = Some(status);
    order.version = Some(version + 1);
    order.updated_at = Some(hookit_time(now));
    set_field(
        &mut order,
        "occurred_at",
        occurred.as_ref().map(Timestamp::as_str),
    )?;
    if let Some(reason) = &change.reason_code {
        set_field(&mut order, "reason_code", Some(reason))?;
    }
    Ok(order)
}

/// `now` as an RFC 3339 time in UTC, with milliseconds.
fn hookit_time(now: Millis) -> Timestamp {
    let instant = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default();
    Timestamp::parse(&instant.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|_| Timestamp::from_instant(instant.fixed_offset()))
}

/// Sets a string field of the record kept beside the known ones, or removes it when
/// the change carries none (a field left from an earlier change would mislead).
fn set_field(order: &mut Order, name: &str, value: Option<&str>) -> Result<(), ApiError> {
    order.extra.remove(name);
    if let Some(value) = value {
        let raw = serde_json::value::to_raw_value(value)
            .map_err(|err| StoreError::Backend(format!("cannot encode {name}: {err}")))?;
        order.extra.push(name.to_owned(), raw);
    }
    Ok(())
}
