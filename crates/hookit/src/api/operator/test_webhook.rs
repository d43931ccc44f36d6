//! `POST /v1/operator/partners/{id}/webhooks/test`: an operator sends a partner's
//! endpoint a test webhook, exactly as the partner can for itself.

use super::{Operator, checked_id, data};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{JsonBody, PathParam};
use crate::api::openapi::{ErrorBody, TestWebhookData};
use crate::api::test_webhook::{self, TestWebhookRequest};
use crate::ids::IdKind;
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[utoipa::path(
    post,
    path = "/partners/{id}/webhooks/test",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    request_body = TestWebhookRequest,
    responses(
        (status = 200, description = "The attempt's outcome, once known or after the attempt timeout plus 2 s (then `status_code` is null and `error` says so). Not audited: it changes nothing.", body = TestWebhookData),
        (status = 400, description = "`request_invalid`: a malformed id, an unknown `event_type`, a `url` that is not one of the partner's mapped URLs, or no URL mapped for the event type.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
        (status = 409, description = "`state_conflict`: the partner is disabled (nothing is sent to it) or has no mapped URL.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: more than 5 test webhooks for this partner in a minute.", body = ErrorBody),
    ),
)]
pub(super) async fn test_partner_webhook(
    State(state): State<AppState>,
    Extension(_operator): Extension<Operator>,
    PathParam(id): PathParam<String>,
    body: JsonBody<TestWebhookRequest>,
) -> Result<Json<serde_json::Value>, Response> {
    checked_id(IdKind::Partner, &id, "id").map_err(IntoResponse::into_response)?;
    let partner = state
        .store
        .get_partner(&id)
        .await
        .map_err(|err| ApiError::from(err).into_response())?;
    if !partner.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state_conflict",
            format!("partner {id} is disabled, so nothing is sent to it; enable it first"),
        )
        .into_response());
    }
    match test_webhook::run(&state, &id, body.value).await {
        Ok(answer) => Ok(data(answer)),
        Err(refused) => {
            let mut response = refused.error.into_response();
            if let Some(seconds) = refused.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            Err(response)
        }
    }
}
