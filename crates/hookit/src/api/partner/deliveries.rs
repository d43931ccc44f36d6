//! A partner's own deliveries: list them (those of deleted mappings too), show one with
//! its attempts, replay a dead one. Another partner's event id answers 404 exactly as a
//! missing one does. [`replay_own`] is the one path of a partner's replay, for this API
//! and the partner portal alike.

use super::orders::{Reply, reply};
use super::{PartnerError, PartnerIdentity, RequestId};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::openapi::{
    PartnerDeliveryData, PartnerDeliveryDetailData, PartnerDeliveryPageData, PartnerErrorBody,
};
use crate::ids::IdKind;
use crate::store::time_text::rfc3339;
use crate::store::{
    AuditEntry, DeliveryDetail, DeliveryFilter, DeliveryState, DeliverySummary, now_millis,
};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use klikit_webhook::EventType;
use serde_json::{Value, json};
use std::collections::HashMap;

/// One delivery as its partner sees it.
pub(super) fn delivery_view(d: &DeliverySummary) -> Value {
    json!({
        "event_id": d.event_id, "event_type": d.event_type, "order_ids": d.order_ids,
        "brand_id": d.brand_id, "branch_id": d.branch_id,
        "state": d.state, "dead_reason": d.dead_reason, "attempts": d.attempt_count,
        "created_at": rfc3339(d.created_at),
        "finished_at": d.finished_at.map(rfc3339),
        "next_attempt_at": d.next_attempt_at.map(rfc3339),
    })
}

fn not_found(event_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        format!("delivery {event_id} not found"),
    )
}

const LIST_PARAMS: &[&str] = &["state", "event_type", "order_id", "limit", "cursor"];

fn list_filter(
    partner_id: &str,
    params: &HashMap<String, String>,
) -> Result<DeliveryFilter, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !LIST_PARAMS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            unknown,
            format!("is not a parameter here; use {}", LIST_PARAMS.join(", ")),
        ));
    }
    let state = params
        .get("state")
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                ApiError::invalid_field("state", "must be one of pending, delivered, dead")
            })
        })
        .transpose()?;
    let event_type = params
        .get("event_type")
        .map(|e| e.parse::<EventType>())
        .transpose()
        .map_err(|err| ApiError::invalid_field("event_type", err))?;
    let order_id = params
        .get("order_id")
        .map(|o| o.parse::<i64>())
        .transpose()
        .map_err(|_| ApiError::invalid_field("order_id", "must be an integer order id"))?;
    let limit = params
        .get("limit")
        .map(|l| l.parse::<usize>().ok().filter(|l| (1..=1000).contains(l)))
        .unwrap_or(Some(50))
        .ok_or_else(|| ApiError::invalid_field("limit", "must be between 1 and 1000"))?;
    let before = params.get("cursor").cloned();
    if let Some(cursor) = &before {
        if !IdKind::Event.matches(cursor) {
            return Err(ApiError::invalid_field(
                "cursor",
                "must be the next_cursor of a previous page (an event id)",
            ));
        }
    }
    Ok(DeliveryFilter {
        partner_id: Some(partner_id.to_owned()),
        state,
        event_type,
        order_id,
        limit,
        before,
        ..DeliveryFilter::default()
    })
}

/// The partner's own deliveries, newest first, including those of deleted mappings.
#[utoipa::path(
    get,
    path = "/deliveries",
    tag = "partner",
    operation_id = "listDeliveries",
    params(
        ("state" = Option<String>, Query, description = "`pending`, `delivered` or `dead`."),
        ("event_type" = Option<String>, Query, description = "Only this event type (a wire name)."),
        ("order_id" = Option<i64>, Query, description = "Only deliveries carrying this order."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Page size (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of the partner's deliveries.", body = PartnerDeliveryPageData),
        (status = 400, description = "`request_invalid`: a parameter is unknown or malformed (named in `details.field`).", body = PartnerErrorBody),
    ),
)]
pub(super) async fn list_deliveries(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    Query(params): Query<HashMap<String, String>>,
) -> Reply {
    let fail = |error: ApiError| PartnerError::new(&request_id, error);
    let filter = list_filter(&partner.id, &params).map_err(fail)?;
    let page = state
        .store
        .list_deliveries(filter)
        .await
        .map_err(|err| fail(err.into()))?;
    let data = json!({
        "deliveries": page.deliveries.iter().map(delivery_view).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    });
    Ok(reply(&request_id, data.to_string().into_bytes()))
}

/// The partner's own delivery by event id, or 404 for any other.
async fn own_delivery(
    state: &AppState,
    partner_id: &str,
    event_id: &str,
) -> Result<DeliveryDetail, ApiError> {
    if !IdKind::Event.matches(event_id) {
        return Err(not_found(event_id));
    }
    state
        .store
        .get_delivery(event_id)
        .await?
        .filter(|d| d.summary.partner_id == partner_id)
        .ok_or_else(|| not_found(event_id))
}

/// One of the partner's deliveries with every attempt made at it.
#[utoipa::path(
    get,
    path = "/deliveries/{event_id}",
    tag = "partner",
    operation_id = "getDelivery",
    params(("event_id" = String, Path, description = "The delivery's `x-klikit-event-id`.")),
    responses(
        (status = 200, description = "The delivery, its body and its attempts.", body = PartnerDeliveryDetailData),
        (status = 404, description = "`resource_not_found`: no such delivery, or another partner's — the two are indistinguishable.", body = PartnerErrorBody),
    ),
)]
pub(super) async fn get_delivery(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    Path(event_id): Path<String>,
) -> Reply {
    let detail = own_delivery(&state, &partner.id, &event_id)
        .await
        .map_err(|error| PartnerError::new(&request_id, error))?;
    let mut data = delivery_view(&detail.summary);
    data["body"] = json!(detail.body);
    data["attempts"] = detail
        .attempts
        .iter()
        .map(|a| {
            json!({
                "attempt": a.attempt, "started_at": rfc3339(a.started_at),
                "duration_ms": a.duration_ms, "url": a.url, "status_code": a.status_code,
                "error_kind": a.error_kind, "error": a.error,
                "response_excerpt": a.response_excerpt,
            })
        })
        .collect();
    Ok(reply(&request_id, data.to_string().into_bytes()))
}

/// Sends one of the partner's dead deliveries again, under the same event id and body.
#[utoipa::path(
    post,
    path = "/deliveries/{event_id}/replay",
    tag = "partner",
    operation_id = "replayDelivery",
    params(("event_id" = String, Path, description = "The dead delivery's `x-klikit-event-id`.")),
    responses(
        (status = 200, description = "The delivery, pending again with a fresh retry schedule. Audited as the partner (`partner:prt_…`).", body = PartnerDeliveryData),
        (status = 404, description = "`resource_not_found`: no such delivery, or another partner's.", body = PartnerErrorBody),
        (status = 409, description = "`state_conflict`: the delivery is not dead (pending or delivered), or its mapping was deleted.", body = PartnerErrorBody),
    ),
)]
pub(super) async fn replay_delivery(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    Path(event_id): Path<String>,
) -> Reply {
    let summary = replay_own(&state, &partner.id, &event_id)
        .await
        .map_err(|error| PartnerError::new(&request_id, error))?;
    Ok(reply(
        &request_id,
        delivery_view(&summary).to_string().into_bytes(),
    ))
}

/// Replays one of the partner's own dead deliveries, audited as `partner:prt_…`.
/// Another partner's event id is `resource_not_found` exactly as a missing one; a
/// delivery that is not dead (or whose mapping was deleted) is `state_conflict`.
pub(crate) async fn replay_own(
    state: &AppState,
    partner_id: &str,
    event_id: &str,
) -> Result<DeliverySummary, ApiError> {
    let detail = own_delivery(state, partner_id, event_id).await?;
    if detail.summary.state != DeliveryState::Dead {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state_conflict",
            format!(
                "delivery {event_id} is {}; only dead deliveries can be replayed",
                detail.summary.state.as_str()
            ),
        ));
    }
    let audit = AuditEntry {
        at: now_millis(),
        actor: format!("partner:{partner_id}"),
        action: "delivery.replayed".into(),
        target: event_id.to_owned(),
        details: json!({}),
    };
    let summary = state.store.replay_delivery(event_id, audit).await?;
    tracing::info!(event_id = %event_id, partner_id = %partner_id, "delivery replayed by its partner");
    Ok(summary)
}
