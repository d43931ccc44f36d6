//! Retry-now for operators: one pending delivery, or every pending one matching the
//! deliveries list's filter, made due at once through the operator API's own path
//! (`api::operator::retry`), audited the same way under the operator token's name.
//! While an attempt is in flight the delivery's page is answered 409 and says so.

use super::ConsoleError;
use super::deliveries::{delivery_page, filter_from};
use super::delivery_view::refusal;
use super::form::Fields;
use super::layout;
use super::session::OperatorForm;
use crate::api::AppState;
use crate::api::operator::retry::{retry_all_matching, retry_one};
use crate::store::DeliveryState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

/// The list's filter fields a bulk retry carries (no cursor: it retries every match).
const FILTER_FIELDS: [&str; 6] = [
    "partner_id",
    "state",
    "event_type",
    "order_id",
    "from",
    "to",
];

/// The form under the deliveries list that retries every pending match now.
pub(crate) fn bulk_retry_form(fields: &Fields, csrf: &str) -> Markup {
    html! {
        form class="card" method="post" action="/console/deliveries/retry" {
            (layout::csrf_field(csrf))
            @for name in FILTER_FIELDS {
                @if let Some(value) = fields.get(name) {
                    input type="hidden" name=(name) value=(value);
                }
            }
            p { "Retry now every pending delivery matching this filter (same event ids; their retry schedules are not advanced; those with an attempt in flight are left)." }
            button type="submit" { "Retry matching deliveries now" }
        }
    }
}

/// `POST /console/deliveries/{event_id}/retry`: as `POST /v1/operator/deliveries/{event_id}/retry`.
pub(crate) async fn retry(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    form: OperatorForm,
) -> Result<Response, ConsoleError> {
    match retry_one(&state, &form.session.operator, &event_id).await {
        Ok(_) => Ok(
            Redirect::to(&format!("/console/deliveries/{event_id}?done=retried")).into_response(),
        ),
        Err(error) if error.status == StatusCode::CONFLICT => {
            let page = delivery_page(&state, &form.session, &event_id, refusal(&error)).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /console/deliveries/retry`: as `POST /v1/operator/deliveries/retry` with the
/// list's filter.
pub(crate) async fn retry_matching(
    State(state): State<AppState>,
    form: OperatorForm,
) -> Result<Redirect, ConsoleError> {
    let mut filter = filter_from(&form.fields, 1)?;
    if filter.state.is_some_and(|s| s != DeliveryState::Pending) {
        return Err(ConsoleError::invalid(
            "state",
            "only pending deliveries are retried; replay sends dead or delivered ones again",
        ));
    }
    filter.before = None;
    let outcome = retry_all_matching(&state, &form.session.operator, filter).await?;
    Ok(Redirect::to(&format!(
        "/console/deliveries?done=retried_bulk:{}:{}",
        outcome.retried, outcome.in_flight
    )))
}
