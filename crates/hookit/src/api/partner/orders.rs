//! getOrder and the order list; the helpers every partner handler shares.

use super::{PartnerError, PartnerIdentity, PartnerReply, RequestId};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract;
use crate::api::openapi::{PartnerErrorBody, PartnerOrderData, PartnerOrderListData};
use crate::store::{PartnerOrderQuery, now_millis};
use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use klikit_webhook::{OrderStatus, Timestamp};
use std::collections::HashMap;

pub(super) type Reply = Result<PartnerReply, PartnerError>;

const DAY_MS: i64 = 86_400_000;

pub(super) fn reply(request_id: &RequestId, data: Vec<u8>) -> PartnerReply {
    PartnerReply {
        status: StatusCode::OK,
        request_id: request_id.0.clone(),
        data,
    }
}

/// The one answer for an order that does not exist and for one outside the partner's
/// mappings, so a partner cannot learn that another's order exists.
pub(super) fn order_not_found(order_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        format!("order {order_id} not found"),
    )
}

pub(super) fn order_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| order_not_found(raw))
}

/// getOrder: one order record, exactly as webhooks carry it.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "partner",
    operation_id = "getOrder",
    params(("id" = i64, Path, description = "klikit's order id.")),
    responses(
        (status = 200, description = "The order record.", body = PartnerOrderData),
        (status = 404, description = "`resource_not_found`: no such order, or one outside the (brand, branch) pairs mapped to this partner — the two are indistinguishable.", body = PartnerErrorBody),
    ),
)]
pub(super) async fn get_order(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let fail = |error: ApiError| PartnerError::new(&request_id, error);
    let Path(raw_id) = path.map_err(|rejection| fail(extract::path_rejection(&rejection)))?;
    let id = order_id(&raw_id).map_err(fail)?;
    let order = state
        .store
        .get_order_for_partner(&partner.id, id)
        .await
        .map_err(|err| fail(err.into()))?
        .ok_or_else(|| fail(order_not_found(&raw_id)))?;
    Ok(reply(&request_id, order.record))
}

/// A page of the partner's orders, by `placed_at` — or, for an order without one, by
/// when hookit first stored it — newest first.
#[utoipa::path(
    get,
    path = "/orders",
    tag = "partner",
    operation_id = "listOrders",
    params(
        ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "From 1 (default 1)."),
        ("size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)."),
        ("from" = Option<String>, Query, format = DateTime, description = "Listed time at or after (RFC 3339); default 30 days before `to`. An order's listed time is its `placed_at`, or for an order without one, when hookit first stored it."),
        ("to" = Option<String>, Query, format = DateTime, description = "Listed time before (RFC 3339); default now. At most 90 days after `from`."),
        ("status" = Option<String>, Query, description = "An OrderStatus code (1-9) or its name (`CANCELLED`, case-insensitive)."),
        ("branch_id" = Option<i64>, Query, minimum = 1, description = "Only this branch."),
    ),
    responses(
        (status = 200, description = "Orders of the (brand, branch) pairs mapped to this partner, newest listed time (`placed_at`, or when hookit first stored an order without one) first. Every order getOrder can read is in the list.", body = PartnerOrderListData),
        (status = 400, description = "`request_invalid`: a parameter is unknown or malformed (named in `details.field`); `request_invalid_range`: `from` is not before `to`, or they are more than 90 days apart.", body = PartnerErrorBody),
    ),
)]
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
