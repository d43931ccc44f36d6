//! `/healthz` (the process answers) and `/readyz` (the store answers and the
//! dispatcher runs).

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
