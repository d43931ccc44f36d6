//! `/metrics` (Prometheus text) and who may read it. It names every partner with its
//! activity, so it is not open to whoever reaches the API port: it is served there
//! only behind `HOOKIT_METRICS_TOKEN` (a bearer token of its own), and without a
//! token only on an address of its own (`HOOKIT_METRICS_LISTEN`), which the operator
//! keeps private. With neither, the API port answers it 404 like any unknown path.

use super::health::dispatcher_loops;
use super::throttle::PresentedKey;
use super::{AppState, BEARER_CHALLENGE, challenge, check_bearer, throttled_response};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `/metrics` on the API port, behind the metrics token when serving (`state`).
pub(super) fn routes(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new().routes(routes!(metrics));
    match state {
        Some(state) => routes.route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_metrics_token,
        )),
        None => routes,
    }
}

/// `/metrics` alone, for its own listener (`HOOKIT_METRICS_LISTEN`).
pub(super) fn own_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .fallback(super::unknown_route)
        .with_state(state)
}

async fn require_metrics_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.metrics_token.clone() else {
        return super::unknown_route().await.into_response();
    };
    let client = state.trusted_proxies.client_of(&request);
    let key = PresentedKey::token(super::bearer(&request, "metrics").unwrap_or_default());
    if let Err(throttled) = state.auth_throttle.check(client, key) {
        return throttled_response(throttled);
    }
    match check_bearer(&request, &expected, "metrics") {
        Ok(()) => next.run(request).await,
        Err(err) => {
            state.auth_throttle.record_failure(client, key);
            state.metrics.auth_failure("metrics");
            challenge(err.into_response(), BEARER_CHALLENGE)
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "OpenMetrics text exposition: deliveries, attempts, ingest and auth failures, backlog per partner.", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        (status = 401, description = "`auth_missing` or `auth_invalid_credential`: not the metrics token (HOOKIT_METRICS_TOKEN).", body = super::openapi::ErrorBody),
        (status = 404, description = "`route_not_found`: no metrics token is set, so `/metrics` is not served on this port (see HOOKIT_METRICS_LISTEN).", body = super::openapi::ErrorBody),
        (status = 429, description = "`rate_limited`: too many failed authentications from this address; wait for `Retry-After` seconds.", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unreachable.", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
    ),
)]
async fn metrics(
    State(state): State<AppState>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let content_type = [("content-type", crate::metrics::CONTENT_TYPE)];
    dispatcher_loops(&state);
    endpoint_states(&state).await;
    match state.store.delivery_stats().await {
        Ok(stats) => {
            let text =
                state
                    .metrics
                    .render(&stats, crate::store::now_millis(), state.store.commits());
            (StatusCode::OK, content_type, text)
        }
        Err(err) => {
            tracing::error!(error = %err, "metrics: cannot read delivery stats");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                content_type,
                "# the store is unreachable\n".into(),
            )
        }
    }
}

/// Sets the endpoint health gauge from the store; on failure the gauge keeps its last
/// values (the delivery stats read that follows reports the store's trouble).
async fn endpoint_states(state: &AppState) {
    use crate::store::EndpointState;
    if let Ok(endpoints) = state.store.list_endpoints(None).await {
        let count =
            |which: EndpointState| endpoints.iter().filter(|e| e.state == which).count() as i64;
        state.metrics.endpoint_states(&[
            ("healthy", count(EndpointState::Healthy)),
            ("open", count(EndpointState::Open)),
            ("disabled", count(EndpointState::Disabled)),
        ]);
    }
}
