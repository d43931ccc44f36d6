//! `GET /v1/partner/webhooks`: the partner's own URL mappings and recent deliveries.

use super::orders::{Reply, reply};
use super::{PartnerError, PartnerIdentity, RequestId};
use crate::api::AppState;
use crate::api::openapi::PartnerWebhooksData;
use crate::store::{DeliveryFilter, StoreError};
use axum::Extension;
use axum::extract::State;
use serde_json::json;

/// The partner's own webhook setup: its URL mappings and its 20 latest deliveries.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "partner",
    operation_id = "listWebhooks",
    responses((status = 200, description = "Mappings and recent deliveries.", body = PartnerWebhooksData)),
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
