//! Deliveries: listing, detail with attempts, replay.

use super::{Answer, Operator, checked_id, data};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{PathParam, QueryParams, RawBody, parse_json};
use crate::api::openapi::{
    DeliveryDetailData, DeliveryPageData, DeliverySummaryData, ErrorBody, EventTypeName,
    ReplayedData,
};
use crate::ids::IdKind;
use crate::store::{DeliveryFilter, DeliveryState};
use axum::Extension;
use axum::extract::State;
use klikit_webhook::EventType;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// Query parameters (and bulk-replay body) selecting deliveries; every one narrows.
#[derive(Deserialize, Default, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct DeliveryQuery {
    /// Only this partner's deliveries (`prt_…`).
    partner_id: Option<String>,
    /// `pending`, `delivered` or `dead`.
    #[schema(value_type = Option<crate::api::openapi::store_schemas::DeliveryState>)]
    #[param(value_type = Option<crate::api::openapi::store_schemas::DeliveryState>)]
    pub(super) state: Option<String>,
    /// Only this event type.
    #[schema(value_type = Option<EventTypeName>)]
    #[param(value_type = Option<EventTypeName>)]
    event_type: Option<String>,
    /// Only deliveries carrying this order.
    order_id: Option<i64>,
    /// Created at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    #[param(format = DateTime)]
    from: Option<String>,
    /// Created before this time (RFC 3339).
    #[schema(format = DateTime)]
    #[param(format = DateTime)]
    to: Option<String>,
    /// Page size, 1 to 1000 (default 50). Listing only; refused by a bulk replay.
    #[schema(minimum = 1, maximum = 1000)]
    #[param(minimum = 1, maximum = 1000)]
    pub(super) limit: Option<usize>,
    /// `next_cursor` of the previous page (an event id). Listing only; refused by a bulk replay.
    pub(super) cursor: Option<String>,
}

impl DeliveryQuery {
    pub(super) fn into_filter(self) -> Result<DeliveryFilter, ApiError> {
        if let Some(partner_id) = &self.partner_id {
            checked_id(IdKind::Partner, partner_id, "partner_id")?;
        }
        if let Some(cursor) = &self.cursor {
            checked_id(IdKind::Event, cursor, "cursor")?;
        }
        let state = self
            .state
            .map(|state| {
                DeliveryState::parse(&state).ok_or_else(|| {
                    ApiError::invalid_field("state", "must be one of pending, delivered, dead")
                })
            })
            .transpose()?;
        let event_type = self
            .event_type
            .map(|event| event.parse::<EventType>())
            .transpose()
            .map_err(|err| ApiError::invalid_field("event_type", err))?;
        let limit = self.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                "must be between 1 and 1000",
            ));
        }
        Ok(DeliveryFilter {
            partner_id: self.partner_id,
            state,
            event_type,
            order_id: self.order_id,
            created_from: self
                .from
                .as_deref()
                .map(|t| parse_time("from", t))
                .transpose()?,
            created_to: self
                .to
                .as_deref()
                .map(|t| parse_time("to", t))
                .transpose()?,
            limit,
            before: self.cursor,
        })
    }
}

pub(super) fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|err| ApiError::invalid_field(field, format!("must be an RFC 3339 time: {err}")))
}

#[utoipa::path(
    get,
    path = "/deliveries",
    tag = "operator",
    params(DeliveryQuery),
    responses(
        (status = 200, description = "Matching deliveries, newest first; pass `next_cursor` as `cursor` for the next page.", body = DeliveryPageData),
        (status = 400, description = "`request_invalid`: a parameter is unknown or malformed (named in `details.field`).", body = ErrorBody),
    ),
)]
pub(super) async fn list_deliveries(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DeliveryQuery>,
) -> Answer {
    let page = state.store.list_deliveries(query.into_filter()?).await?;
    Ok(data(page))
}

#[utoipa::path(
    get,
    path = "/deliveries/{event_id}",
    tag = "operator",
    params(("event_id" = String, Path, description = "The delivery's event id (`evt_…`), as sent in `x-klikit-event-id`.")),
    responses(
        (status = 200, description = "The delivery, its exact body and every attempt.", body = DeliveryDetailData),
        (status = 400, description = "`request_invalid`: the event id is malformed.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such delivery.", body = ErrorBody),
    ),
)]
pub(super) async fn get_delivery(
    State(state): State<AppState>,
    PathParam(event_id): PathParam<String>,
) -> Answer {
    checked_id(IdKind::Event, &event_id, "event_id")?;
    let detail = state
        .store
        .get_delivery(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("delivery {event_id}")))?;
    Ok(data(detail))
}

#[utoipa::path(
    post,
    path = "/deliveries/{event_id}/replay",
    tag = "operator",
    params(("event_id" = String, Path, description = "The delivery's event id (`evt_…`), as sent in `x-klikit-event-id`.")),
    responses(
        (status = 200, description = "The delivery, pending again under the same event id with the same body and a fresh retry schedule.", body = DeliverySummaryData),
        (status = 400, description = "`request_invalid`: the event id is malformed.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such delivery.", body = ErrorBody),
        (status = 409, description = "`state_conflict`: the delivery is still pending, or its mapping was deleted (it could never be attempted again).", body = ErrorBody),
    ),
)]
pub(super) async fn replay_delivery(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam(event_id): PathParam<String>,
) -> Answer {
    checked_id(IdKind::Event, &event_id, "event_id")?;
    let summary = state
        .store
        .replay_delivery(
            &event_id,
            operator.audit("delivery.replayed", &event_id, json!({})),
        )
        .await?;
    tracing::info!(event_id = %event_id, "delivery replayed");
    Ok(data(summary))
}

// How a bulk replay body is read: as a JSON object whose `include_delivered` is taken
// out, the rest then read as a `DeliveryQuery` (which refuses `limit` and `cursor`
// later, by name). `BulkReplay` only documents that shape.

/// A bulk replay: the list's filters (each narrows; `limit` and `cursor` do not
/// apply), and whether delivered deliveries are re-sent too.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct BulkReplay {
    /// Only this partner's deliveries (`prt_…`).
    partner_id: Option<String>,
    /// `dead` (the default) or `delivered` (which needs `include_delivered`).
    #[schema(value_type = Option<crate::api::openapi::store_schemas::DeliveryState>)]
    state: Option<String>,
    /// Only this event type.
    #[schema(value_type = Option<EventTypeName>)]
    event_type: Option<String>,
    /// Only deliveries carrying this order.
    order_id: Option<i64>,
    /// Created at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    from: Option<String>,
    /// Created before this time (RFC 3339).
    #[schema(format = DateTime)]
    to: Option<String>,
    /// Also re-send deliveries that were acknowledged (default false: only dead ones
    /// are replayed, and `state: delivered` without this flag is refused).
    include_delivered: Option<bool>,
}

/// Bulk replay. The body is a filter like the list query's; an empty body replays
/// every dead delivery.
#[utoipa::path(
    post,
    path = "/deliveries/replay",
    tag = "operator",
    request_body(content = BulkReplay, description = "A filter like the list's parameters, without `limit` and `cursor`, and `include_delivered`. An empty body replays every dead delivery; delivered ones are re-sent only with `include_delivered: true`."),
    responses(
        (status = 200, description = "How many deliveries were replayed, and the matching ones left as they are with the reason (`mapping_deleted`: their mapping was deleted; at most 1000 listed, `skipped_total` counts all).", body = ReplayedData),
        (status = 400, description = "`request_invalid`: the filter is malformed, names `limit`/`cursor`, asks for `state: pending`, or for `state: delivered` without `include_delivered: true`.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn replay_matching(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    RawBody(raw): RawBody,
) -> Answer {
    let (query, include_delivered) = if raw.iter().all(u8::is_ascii_whitespace) {
        (DeliveryQuery::default(), false)
    } else {
        let mut body: serde_json::Map<String, serde_json::Value> = parse_json(&raw)?;
        let include_delivered = match body.remove("include_delivered") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(flag)) => flag,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "include_delivered",
                    "must be true or false",
                ));
            }
        };
        let rest = serde_json::to_vec(&body).map_err(|err| {
            ApiError::invalid_field("include_delivered", format!("cannot be read: {err}"))
        })?;
        (parse_json::<DeliveryQuery>(&rest)?, include_delivered)
    };
    for (field, given) in [
        ("cursor", query.cursor.is_some()),
        ("limit", query.limit.is_some()),
    ] {
        if given {
            return Err(ApiError::invalid_field(
                field,
                "does not apply to a bulk replay, which replays every match; leave it out",
            ));
        }
    }
    let filter = query.into_filter()?;
    match filter.state {
        Some(DeliveryState::Pending) => {
            return Err(ApiError::invalid_field(
                "state",
                "pending deliveries are attempted already; a replay applies to dead (or, with include_delivered, delivered) ones",
            ));
        }
        Some(DeliveryState::Delivered) if !include_delivered => {
            return Err(ApiError::invalid_field(
                "include_delivered",
                "must be true to re-send delivered deliveries (state: delivered); partners receive them again under their event ids",
            ));
        }
        _ => {}
    }
    let audit = operator.audit(
        "deliveries.replayed",
        filter.partner_id.as_deref().unwrap_or("*"),
        json!({
            "state": filter.state.map(|s| s.as_str()),
            "event_type": filter.event_type.map(|e| e.as_str()),
            "order_id": filter.order_id,
            "include_delivered": include_delivered,
        }),
    );
    let outcome = state
        .store
        .replay_matching(filter, include_delivered, audit)
        .await?;
    tracing::info!(
        replayed = outcome.replayed,
        skipped = outcome.skipped_total,
        "deliveries replayed in bulk"
    );
    let skipped: Vec<serde_json::Value> = outcome
        .skipped
        .iter()
        .map(|s| json!({ "event_id": s.event_id, "reason": s.reason }))
        .collect();
    Ok(data(json!({
        "replayed": outcome.replayed,
        "skipped": skipped,
        "skipped_total": outcome.skipped_total,
    })))
}
