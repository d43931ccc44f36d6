//! The HTTP APIs: operator, ingest and health. Handlers validate, write to the store
//! and return; they never send a webhook themselves — that is the dispatcher's job.

pub mod error;
pub mod extract;
mod health;
mod ingest;
mod operator;

use crate::credentials::{MasterKey, Secret};
use crate::dispatcher::DispatcherHealth;
use crate::store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use error::ApiError;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub master_key: Arc<MasterKey>,
    pub operator_token: Arc<Secret>,
    pub ingest_token: Arc<Secret>,
    pub allow_private_targets: bool,
    pub dispatcher: DispatcherHealth,
}

/// The full router of `hookit serve`.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let operator = operator::routes().route_layer(middleware::from_fn_with_state(
        state.clone(),
        require_operator,
    ));
    let ingest = ingest::routes().route_layer(middleware::from_fn_with_state(
        state.clone(),
        require_ingest,
    ));
    Router::new()
        .merge(health::routes())
        .nest("/v1/operator", operator)
        .nest("/v1/ingest", ingest)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn unknown_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "no such endpoint; see /openapi.json for the API",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that HTTP method",
    )
}

async fn require_operator(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check_bearer(&request, &state.operator_token, "operator") {
        Ok(()) => next.run(request).await,
        Err(err) => axum::response::IntoResponse::into_response(err),
    }
}

async fn require_ingest(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check_bearer(&request, &state.ingest_token, "ingest") {
        Ok(()) => next.run(request).await,
        Err(err) => axum::response::IntoResponse::into_response(err),
    }
}

/// Checks `Authorization: Bearer <token>` against the expected token in constant time
/// (comparing digests, so not even the length leaks).
fn check_bearer(request: &Request, expected: &Secret, which: &str) -> Result<(), ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth_missing",
            format!("send `Authorization: Bearer <{which} token>`"),
        ));
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|text| text.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let matches: bool = Sha256::digest(presented.as_bytes())
        .ct_eq(&Sha256::digest(expected.expose().as_bytes()))
        .into();
    if presented.is_empty() || !matches {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth_invalid_credential",
            format!("the {which} token is not valid"),
        ));
    }
    Ok(())
}
