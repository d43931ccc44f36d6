//! `GET /v1/partner/webhooks`: the partner's own URL mappings, each mapped URL's
//! recent activity, and recent deliveries.

use super::deliveries::delivery_view;
use super::orders::{Reply, reply};
use super::{PartnerError, PartnerIdentity, RequestId};
use crate::api::AppState;
use crate::api::openapi::PartnerWebhooksData;
use crate::store::time_text::rfc3339;
use crate::store::{DeliveryFilter, StoreError, UrlActivity};
use axum::Extension;
use axum::extract::State;
use serde_json::{Value, json};

/// The partner's own webhook setup: its URL mappings, how each URL is doing, and its
/// 20 latest deliveries.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "partner",
    operation_id = "listWebhooks",
    responses((status = 200, description = "Mappings, each mapped URL's activity, and recent deliveries.", body = PartnerWebhooksData)),
)]
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
    let urls = state
        .store
        .partner_url_activity(&partner.id)
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
        "urls": urls.iter().map(url_view).collect::<Vec<_>>(),
        "recent_deliveries": recent.deliveries.iter().map(delivery_view).collect::<Vec<_>>(),
    });
    Ok(reply(&request_id, data.to_string().into_bytes()))
}

/// One mapped URL as the partner sees it, with its endpoint health; `since` is when it
/// entered that state, or, for a URL that never failed, when it was first mapped.
fn url_view(url: &UrlActivity) -> Value {
    json!({
        "url": url.url,
        "state": url.state.as_str(),
        "since": rfc3339(url.state_since.unwrap_or(url.first_mapped_at)),
        "last_error": url.last_error,
        "last_attempt": url.last_attempt.as_ref().map(|a| json!({
            "status_code": a.status_code,
            "latency_ms": a.duration_ms,
            "at": rfc3339(a.started_at),
        })),
        "pending": url.pending,
    })
}
