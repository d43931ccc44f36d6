//! Prune now: what is past its retention (`HOOKIT_RETAIN_*`) is counted (a dry run)
//! or removed at once, as the background pruner would at its next run. A real prune
//! is audited as `retention.pruned` with its counts.

use super::{Answer, Operator, data};
use crate::api::AppState;
use crate::api::extract::{RawBody, parse_json};
use crate::api::openapi::ErrorBody;
use crate::store::{PruneCounts, now_millis};
use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What to do: count (`dry_run: true`) or remove.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PruneRequest {
    /// True: only count what would go now. False: remove it now.
    dry_run: bool,
}

/// How many records of each kind went (or would go).
#[derive(Serialize, ToSchema)]
pub(super) struct PruneResult {
    /// Whether this was a dry run (nothing removed).
    dry_run: bool,
    /// Per kind: `delivered` and `dead` deliveries (with their bodies and attempts),
    /// `orders` (with their change snapshots; each leaves a tombstone), `tombstones`
    /// (of orders pruned longer ago than the orders' retention) and `idempotency_keys`.
    #[schema(value_type = PruneCountsSchema)]
    counts: PruneCounts,
}

/// Records per kind.
#[derive(ToSchema)]
#[schema(as = PruneCounts)]
#[allow(dead_code)]
pub(super) struct PruneCountsSchema {
    delivered: u64,
    dead: u64,
    orders: u64,
    tombstones: u64,
    idempotency_keys: u64,
}

/// `{"data": PruneResult}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct PruneData {
    data: PruneResult,
}

#[utoipa::path(
    post,
    path = "/prune",
    tag = "operator",
    request_body(content = PruneRequest, description = "`{\"dry_run\": true}` counts what is past its retention now; `{\"dry_run\": false}` removes it. Pending work is never removed, nor an order a kept delivery needs."),
    responses(
        (status = 200, description = "How many records of each kind were removed (or would be). A real prune is audited as `retention.pruned`.", body = PruneData),
        (status = 400, description = "`request_invalid`: the body is not `{\"dry_run\": bool}`.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn prune(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    RawBody(raw): RawBody,
) -> Answer {
    let request: PruneRequest = parse_json(&raw)?;
    let now = now_millis();
    let counts = if request.dry_run {
        state.pruner.count(now).await?
    } else {
        let counts = state.pruner.prune(now).await?;
        let details = serde_json::to_value(counts).unwrap_or_default();
        state
            .store
            .record_audit(operator.audit("retention.pruned", "store", details))
            .await?;
        counts
    };
    Ok(data(PruneResult {
        dry_run: request.dry_run,
        counts,
    }))
}
