//! Retry now: a pending delivery (or every pending one matching a filter) is made due
//! at once, under the same event id, its retry schedule not advanced. Refused while an
//! attempt is in flight. Audited.
//!
//! [`retry_one`] and [`retry_all_matching`] are the one path of this action: the API's
//! handlers below and the console's buttons both call them.

use super::deliveries::DeliveryQuery;
use super::{Answer, Operator, checked_id, data};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{PathParam, RawBody, parse_json};
use crate::api::openapi::{DeliverySummaryData, ErrorBody, RetriedData};
use crate::ids::IdKind;
use crate::store::{DeliveryFilter, DeliverySummary, RetryOutcome};
use axum::Extension;
use axum::extract::State;
use serde_json::json;

#[utoipa::path(
    post,
    path = "/deliveries/{event_id}/retry",
    tag = "operator",
    params(("event_id" = String, Path, description = "The pending delivery's event id (`evt_…`).")),
    responses(
        (status = 200, description = "The delivery, due now; the dispatcher attempts it on its next claim (the attempt is counted; the retry schedule does not advance). Audited as `delivery.retried`.", body = DeliverySummaryData),
        (status = 400, description = "`request_invalid`: the event id is malformed.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such delivery.", body = ErrorBody),
        (status = 409, description = "`state_conflict`: an attempt is in flight (wait for its outcome), or the delivery is not pending (replay a dead one).", body = ErrorBody),
    ),
)]
pub(super) async fn retry_delivery(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam(event_id): PathParam<String>,
) -> Answer {
    Ok(data(retry_one(&state, &operator, &event_id).await?))
}

/// Makes one pending delivery due now, audited as `delivery.retried` under the
/// operator's name. A conflict (`state_conflict`, 409) while an attempt is in flight or
/// when the delivery is not pending.
pub(crate) async fn retry_one(
    state: &AppState,
    operator: &Operator,
    event_id: &str,
) -> Result<DeliverySummary, ApiError> {
    checked_id(IdKind::Event, event_id, "event_id")?;
    let summary = state
        .store
        .retry_delivery_now(
            event_id,
            operator.audit("delivery.retried", event_id, json!({})),
        )
        .await?;
    tracing::info!(event_id = %event_id, "delivery made due now");
    Ok(summary)
}

/// Makes every pending delivery matching `filter` due now (those with an attempt in
/// flight are left and counted), audited as `deliveries.retried` under the operator's
/// name. The filter's state, if any, must be pending; its page and cursor are ignored.
pub(crate) async fn retry_all_matching(
    state: &AppState,
    operator: &Operator,
    filter: DeliveryFilter,
) -> Result<RetryOutcome, ApiError> {
    let filter = DeliveryFilter {
        before: None,
        ..filter
    };
    let details = json!({
        "partner_id": filter.partner_id,
        "event_type": filter.event_type.map(|e| e.as_str()),
        "order_id": filter.order_id,
    });
    let outcome = state
        .store
        .retry_matching_now(filter, operator.audit("deliveries.retried", "*", details))
        .await?;
    tracing::info!(
        retried = outcome.retried,
        in_flight = outcome.in_flight,
        "pending deliveries made due now"
    );
    Ok(outcome)
}

#[utoipa::path(
    post,
    path = "/deliveries/retry",
    tag = "operator",
    request_body(content = DeliveryQuery, description = "The list's filters (each narrows; `state` may only be `pending`, `limit` and `cursor` do not apply). An empty body retries every pending delivery."),
    responses(
        (status = 200, description = "How many pending deliveries were made due now, and how many were left because an attempt is in flight. Audited as `deliveries.retried`.", body = RetriedData),
        (status = 400, description = "`request_invalid`: the filter is malformed, names `limit`/`cursor`, or a state other than `pending`.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn retry_matching(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    RawBody(raw): RawBody,
) -> Answer {
    let query = if raw.iter().all(u8::is_ascii_whitespace) {
        DeliveryQuery::default()
    } else {
        parse_json::<DeliveryQuery>(&raw)?
    };
    for (field, given) in [
        ("cursor", query.cursor.is_some()),
        ("limit", query.limit.is_some()),
    ] {
        if given {
            return Err(ApiError::invalid_field(
                field,
                "does not apply to a bulk retry, which retries every match; leave it out",
            ));
        }
    }
    if query
        .state
        .as_deref()
        .is_some_and(|state| state != "pending")
    {
        return Err(ApiError::invalid_field(
            "state",
            "only pending deliveries are retried; replay sends dead or delivered ones again",
        ));
    }
    let filter = query.into_filter()?;
    Ok(data(retry_all_matching(&state, &operator, filter).await?))
}
