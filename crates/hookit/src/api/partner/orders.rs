//! getOrder, the order list, status changes, and the partner's own webhook setup.

use super::{PartnerError, PartnerIdentity, PartnerReply, RequestId};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{RawBody, parse_json};
use crate::order_flow::{self, REASON_CODES, RequestedStatus};
use crate::store::{
    DeliveryFilter, PartnerOrderChange, PartnerOrderQuery, StoreError, StoredAnswer, now_millis,
};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use klikit_webhook::{EventType, Order, OrderStatus, Timestamp};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

type Reply = Result<PartnerReply, PartnerError>;

const DAY_MS: i64 = 86_400_000;
/// How many times a status change is recomputed when the order moves on under it.
const COMMIT_TRIES: usize = 3;

fn reply(request_id: &RequestId, data: Vec<u8>) -> PartnerReply {
    PartnerReply {
        status: StatusCode::OK,
        request_id: request_id.0.clone(),
        data,
    }
}

/// The one answer for an order that does not exist and for one outside the partner's
/// mappings, so a partner cannot learn that another's order exists.
fn order_not_found(order_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        format!("order {order_id} not found"),
    )
}

fn order_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| order_not_found(raw))
}

pub(super) async fn get_order(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    Path(raw_id): Path<String>,
) -> Reply {
    let fail = |error: ApiError| PartnerError::new(&request_id, error);
    let id = order_id(&raw_id).map_err(fail)?;
    let order = state
        .store
        .get_order_for_partner(&partner.id, id)
        .await
        .map_err(|err| fail(err.into()))?
        .ok_or_else(|| fail(order_not_found(&raw_id)))?;
    Ok(reply(&request_id, order.record))
}

pub(super) async fn list_orders(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    Query(params): Query<HashMap<String, String>>,
) -> Reply {
    let fail = |error: ApiError| PartnerError::new(&request_id, error);
    let query = list_query(&partner.id, &params).map_err(fail)?;
    let (page, size) = (query.page, query.size);
    let found = state
        .store
        .list_orders_for_partner(query)
        .await
        .map_err(|err| fail(err.into()))?;
    let mut data = b"{\"orders\":[".to_vec();
    for (i, record) in found.records.iter().enumerate() {
        if i > 0 {
            data.push(b',');
        }
        data.extend_from_slice(record);
    }
    data.extend_from_slice(
        format!(
            "],\"page\":{page},\"size\":{size},\"total\":{}}}",
            found.total
        )
        .as_bytes(),
    );
    Ok(reply(&request_id, data))
}

const LIST_PARAMS: &[&str] = &["page", "size", "from", "to", "status", "branch_id"];

fn list_query(
    partner_id: &str,
    params: &HashMap<String, String>,
) -> Result<PartnerOrderQuery, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !LIST_PARAMS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            unknown,
            format!("is not a parameter; use {}", LIST_PARAMS.join(", ")),
        ));
    }
    let number = |name: &str, min: i64, max: i64| -> Result<Option<i64>, ApiError> {
        params
            .get(name)
            .map(|text| {
                text.parse::<i64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            name,
                            format!("must be an integer from {min} to {max}"),
                        )
                    })
            })
            .transpose()
    };
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(name)
            .map(|text| {
                Timestamp::parse(text)
                    .map(|t| t.instant().timestamp_millis())
                    .map_err(|err| {
                        ApiError::invalid_field(name, format!("must be an RFC 3339 time: {err}"))
                    })
            })
            .transpose()
    };
    let to = time("to")?.unwrap_or_else(now_millis);
    let from = time("from")?.unwrap_or(to - 30 * DAY_MS);
    if from >= to {
        return Err(range_error("`from` must be before `to`"));
    }
    if to - from > 90 * DAY_MS {
        return Err(range_error("`from` and `to` may be at most 90 days apart"));
    }
    let status = params
        .get("status")
        .map(|text| status_filter(text))
        .transpose()?;
    Ok(PartnerOrderQuery {
        partner_id: partner_id.to_owned(),
        placed_from: from,
        placed_to: to,
        status,
        branch_id: number("branch_id", 1, i64::MAX)?,
        page: number("page", 1, 1_000_000)?.unwrap_or(1) as u32,
        size: number("size", 1, 100)?.unwrap_or(20) as u32,
    })
}

fn range_error(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "request_invalid_range", message)
}

/// A status filter: the integer code or its name (`3`, `CANCELLED`, `cancelled`).
fn status_filter(text: &str) -> Result<i64, ApiError> {
    if let Ok(code) = text.parse::<i64>() {
        return Ok(code);
    }
    (1..=9)
        .map(OrderStatus::from_code)
        .find(|status| status.name().eq_ignore_ascii_case(text))
        .map(OrderStatus::code)
        .ok_or_else(|| {
            ApiError::invalid_field("status", "must be an OrderStatus code (1-9) or its name")
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
    #[serde(default)]
    reason_code: Option<String>,
    #[serde(default)]
    occurred_at: Option<String>,
}

pub(super) async fn change_status(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Reply {
    let fail = |error: ApiError| PartnerError::new(&request_id, error);
    let key = idempotency_key(&headers).map_err(fail)?;
    let scope = format!("partner:{}", partner.id);
    let digest = hex::encode(Sha256::digest([raw_id.as_bytes(), b"\n", &raw].concat()));
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
        let next = next_record(&current.record, current.version, &change).map_err(fail)?;
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
                now: now_millis(),
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

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers.get("idempotency-key").ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_missing_idempotency_key",
            "status changes need an `Idempotency-Key` header (a unique value per intended change, reused on retries)",
        )
    })?;
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.len() <= 255)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
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

/// The record after the change: new status, next version, the time it happened and,
/// for a cancellation, its reason.
fn next_record(record: &[u8], version: i64, change: &StatusChange) -> Result<Order, ApiError> {
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
    order.updated_at = Some(change_time(occurred, order.updated_at.as_ref()));
    if let Some(reason) = &change.reason_code {
        order.extra.remove("reason_code");
        let raw = serde_json::value::to_raw_value(reason)
            .map_err(|err| StoreError::Backend(format!("cannot encode reason code: {err}")))?;
        order.extra.push("reason_code".to_owned(), raw);
    }
    Ok(order)
}

/// When the change happened: `occurred_at` or now, but never before the record's last
/// update, so a change never moves an order's time backwards.
fn change_time(occurred: Option<Timestamp>, last: Option<&Timestamp>) -> Timestamp {
    let candidate =
        occurred.unwrap_or_else(|| Timestamp::from_instant(chrono::Utc::now().fixed_offset()));
    match last {
        Some(last) if last.instant() > candidate.instant() => last.clone(),
        _ => candidate,
    }
}

pub(super) async fn webhooks(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
) -> Reply {
    let fail = |error: StoreError| PartnerError::new(&request_id, error);
    let mappings = state
        .store
        .list_mappings(Some(&partner.id))
        .await
        .map_err(fail)?;
    let recent = state
        .store
        .list_deliveries(DeliveryFilter {
            partner_id: Some(partner.id.clone()),
            limit: 20,
            ..DeliveryFilter::default()
        })
        .await
        .map_err(fail)?;
    let data = json!({
        "mappings": mappings.iter().map(|m| json!({
            "id": m.id, "url": m.url, "event_type": m.event_type,
            "brand_id": m.brand_id, "branch_id": m.branch_id,
        })).collect::<Vec<_>>(),
        "recent_deliveries": recent.deliveries.iter().map(|d| json!({
            "event_id": d.event_id, "event_type": d.event_type, "order_ids": d.order_ids,
            "state": d.state, "attempts": d.attempt_count, "created_at": d.created_at,
            "finished_at": d.finished_at, "next_attempt_at": d.next_attempt_at,
        })).collect::<Vec<_>>(),
    });
    Ok(reply(&request_id, data.to_string().into_bytes()))
}
