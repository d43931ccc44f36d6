//! `POST /v1/partner/webhooks/test`: a partner has a signed sample delivery sent to one
//! of its own URLs and is told how its endpoint answered.

use super::orders::{Reply, reply};
use super::{PartnerError, PartnerIdentity, RequestId};
use crate::api::AppState;
use crate::api::extract::{RawBody, parse_json};
use crate::api::openapi::{PartnerErrorBody, PartnerTestWebhookData};
use crate::api::test_webhook::{self, TestWebhookRequest};
use axum::Extension;
use axum::extract::State;

/// Send me a test webhook: a sample order (negative id, marked `x-klikit-test: true`)
/// signed with the partner's webhook secret, attempted once, never listed or replayed.
#[utoipa::path(
    post,
    path = "/webhooks/test",
    tag = "partner",
    operation_id = "testWebhook",
    request_body = TestWebhookRequest,
    responses(
        (status = 200, description = "The attempt's outcome, once it is known or after the attempt timeout plus 2 s (then `status_code` is null and `error` says so).", body = PartnerTestWebhookData),
        (status = 400, description = "`request_invalid`: an unknown `event_type`, a `url` that is not one of the partner's mapped URLs, or no URL mapped for the event type (named in `details.field`).", body = PartnerErrorBody),
        (status = 409, description = "`state_conflict`: the partner has no mapped URL.", body = PartnerErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = PartnerErrorBody),
        (status = 429, description = "`rate_limited`: more than 5 test webhooks in a minute; `Retry-After` says when to try again.", body = PartnerErrorBody),
    ),
)]
pub(super) async fn test_webhook(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(partner): Extension<PartnerIdentity>,
    RawBody(raw): RawBody,
) -> Reply {
    let request: TestWebhookRequest =
        parse_json(&raw).map_err(|error| PartnerError::new(&request_id, error))?;
    match test_webhook::run(&state, &partner.id, request).await {
        Ok(answer) => Ok(reply(&request_id, answer.to_string().into_bytes())),
        Err(refused) => Err(PartnerError {
            retry_after: refused.retry_after,
            ..PartnerError::new(&request_id, refused.error)
        }),
    }
}
