//! `/healthz` (the process answers), `/readyz` (the store answers and the
//! dispatcher runs) and `/metrics` (Prometheus text).

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn metrics(
    State(state): State<AppState>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let content_type = [("content-type", "text/plain; version=0.0.4")];
    match state.store.delivery_stats().await {
        Ok(stats) => (
            StatusCode::OK,
            content_type,
            state.metrics.render(&stats, crate::store::now_millis()),
        ),
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

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.ping().await;
    let dispatcher = state.dispatcher.is_running();
    let ready = store.is_ok() && dispatcher;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "store": if store.is_ok() { "ok" } else { "unreachable" },
            "dispatcher": if dispatcher { "running" } else { "stopped" },
        })),
    )
}
