//! `/healthz` (the process answers) and `/readyz` (the store answers and the
//! dispatcher's loops make progress).

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// `/healthz` answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: String,
}

/// `/readyz` answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    status: String,
    /// `ok` or `unreachable`.
    store: String,
    /// `running` or `stopped`.
    dispatcher: String,
    /// `ok` (made progress within max(3 ticks, 5 s)) or `stalled`.
    #[schema(example = "ok")]
    batcher: String,
    /// `ok` (made progress within max(3 ticks, 5 s)) or `stalled`.
    #[schema(example = "ok")]
    claimer: String,
    /// `ok` (wrote outcomes within max(3 ticks, 5 s), or had none to write) or `stalled`.
    #[schema(example = "ok")]
    recorder: String,
}

/// Each dispatcher loop and whether it is ok now, also set on the metrics.
pub(super) fn dispatcher_loops(state: &AppState) -> Vec<(&'static str, bool)> {
    state
        .dispatcher
        .loops(crate::store::now_millis())
        .into_iter()
        .map(|(which, ok)| {
            state.metrics.dispatcher_loop(which.name(), ok);
            (which.name(), ok)
        })
        .collect()
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses((status = 200, description = "The process is up.", body = Health)),
)]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the store answers and the dispatcher's loops run and make progress.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    responses(
        (status = 200, description = "Ready to take traffic.", body = Readiness),
        (status = 503, description = "Not ready: the store is unreachable, or the dispatcher stopped or one of its loops stalled.", body = Readiness),
    ),
)]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.ping().await;
    let dispatcher = state.dispatcher.is_running();
    let loops = dispatcher_loops(&state);
    let ready = store.is_ok() && dispatcher && loops.iter().all(|(_, ok)| *ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut answer = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store": if store.is_ok() { "ok" } else { "unreachable" },
        "dispatcher": if dispatcher { "running" } else { "stopped" },
    });
    for (name, ok) in loops {
        answer[name] = json!(if ok { "ok" } else { "stalled" });
    }
    (status, Json(answer))
}
