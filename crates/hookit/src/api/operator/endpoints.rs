//! Endpoint health for operators: every mapped (partner, URL) with its state, and
//! enabling one that hookit opened or disabled. Audited.
//!
//! [`enable_one`] is the one path of enabling: the API's handler and the console's
//! button both call it.

use super::{Answer, Operator, checked_id, data};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::openapi::{EndpointData, EndpointListData, ErrorBody};
use crate::ids::IdKind;
use crate::store::EndpointHealth;
use axum::Extension;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// Which endpoints to list.
#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct EndpointQuery {
    /// Only this partner's endpoints (`prt_…`).
    partner_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/endpoints",
    tag = "operator",
    params(EndpointQuery),
    responses(
        (status = 200, description = "Every mapped endpoint (partner, URL), by partner then URL, with its health: `healthy`, `open` (its circuit is open: one probe per cool-down) or `disabled` (nothing is sent until it is enabled or the mapping's URL changes).", body = EndpointListData),
        (status = 400, description = "`request_invalid`: `partner_id` is not a partner id, or an unknown parameter.", body = ErrorBody),
    ),
)]
pub(super) async fn list_endpoints(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EndpointQuery>,
) -> Answer {
    if let Some(partner_id) = &query.partner_id {
        checked_id(IdKind::Partner, partner_id, "partner_id")?;
    }
    let endpoints = state
        .store
        .list_endpoints(query.partner_id.as_deref())
        .await?;
    Ok(data(endpoints))
}

/// The endpoint to enable.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EnableEndpoint {
    /// The partner id (`prt_…`).
    partner_id: String,
    /// The URL, as one of the partner's mappings has it.
    url: String,
}

#[utoipa::path(
    post,
    path = "/endpoints/enable",
    tag = "operator",
    request_body = EnableEndpoint,
    responses(
        (status = 200, description = "The endpoint, healthy again: its waiting deliveries go out as they fall due. Audited as `endpoint.enabled`.", body = EndpointData),
        (status = 400, description = "`request_invalid`: a field is missing or malformed.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: the partner maps no such URL.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn enable_endpoint(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    body: JsonBody<EnableEndpoint>,
) -> Answer {
    let EnableEndpoint { partner_id, url } = body.value;
    Ok(data(
        enable_one(&state, &operator, &partner_id, &url).await?,
    ))
}

/// Enables one endpoint (a partner's URL as its mappings have it), audited as
/// `endpoint.enabled` under the operator's name: its waiting deliveries are due again.
/// The one path of this action: the API's handler above and the console's button both
/// call it.
pub(crate) async fn enable_one(
    state: &AppState,
    operator: &Operator,
    partner_id: &str,
    url: &str,
) -> Result<EndpointHealth, ApiError> {
    checked_id(IdKind::Partner, partner_id, "partner_id")?;
    // Mappings keep URLs as the URL parser writes them (`http://a.example/`).
    let url = url::Url::parse(url.trim())
        .map(|parsed| parsed.to_string())
        .map_err(|err| ApiError::invalid_field("url", format!("is not a URL: {err}")))?;
    let health = state
        .store
        .enable_endpoint(
            partner_id,
            &url,
            operator.audit("endpoint.enabled", partner_id, json!({ "url": url })),
        )
        .await?;
    tracing::info!(partner_id = %partner_id, "endpoint enabled by an operator");
    Ok(health)
}
