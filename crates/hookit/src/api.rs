//! The HTTP APIs: operator, ingest, partner, health and metrics, and the OpenAPI
//! document of them all. Handlers validate, write to the store and return; they never
//! send a webhook themselves — that is the dispatcher's job.

pub mod client_address;
pub mod connections;
mod duplicate_keys;
pub mod error;
pub mod extract;
mod health;
mod ingest;
mod metrics_route;
pub mod openapi;
pub mod operator;
pub mod partner;
pub mod test_webhook;
pub mod throttle;

// For the fuzz targets' entry points (`crate::fuzzing`), which run the ingest parser
// without a server.
pub(crate) use duplicate_keys::first_flaw;
pub(crate) use ingest::parse_item as parse_ingest_item;

use crate::credentials::{MasterKey, Secret};
use crate::dispatcher::DispatcherHealth;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use error::ApiError;
use openapi::Guard;
use operator::Operator;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use throttle::PresentedKey;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub master_key: Arc<MasterKey>,
    pub operator_token: Arc<Secret>,
    pub ingest_token: Arc<Secret>,
    pub allow_private_targets: bool,
    pub dispatcher: DispatcherHealth,
    pub metrics: Arc<Metrics>,
    pub auth_throttle: Arc<throttle::AuthThrottle>,
    pub trusted_proxies: Arc<client_address::TrustedProxies>,
    /// How far klikit's clock and hookit's may disagree in the stale check
    /// (`HOOKIT_FRESHNESS_SKEW`).
    pub freshness_skew: std::time::Duration,
    /// Test webhooks' rate limit and how long they wait for their outcome.
    pub test_webhooks: Arc<test_webhook::TestWebhooks>,
    /// The web console's settings (`HOOKIT_CONSOLE`, `HOOKIT_CONSOLE_SESSION_TTL`).
    pub console: crate::config::ConsoleSettings,
    /// The bearer token that opens `/metrics` on the API port (`HOOKIT_METRICS_TOKEN`);
    /// without one, `/metrics` is not served there.
    pub metrics_token: Option<Arc<Secret>>,
    /// Partner status changes in flight, by idempotency key.
    pub status_changes: Arc<partner::in_flight::InFlight>,
    /// Removes what is past its retention (`POST /v1/operator/prune`).
    pub pruner: Arc<crate::pruner::Pruner>,
}

/// The full router of `hookit serve`, serving its own OpenAPI document at
/// `/openapi.json`.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let (routes, document) = assemble(Some(&state)).split_for_parts();
    let document = openapi::Document::new(&openapi::finish(document));
    let routes = crate::console::mount(routes, &state);
    routes
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(document))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(refuse_oversized_headers))
        .layer(middleware::from_fn(assign_request_id))
        .with_state(state)
}

/// Serves the API (and, with `HOOKIT_METRICS_LISTEN`, `/metrics` on its own address)
/// until `stop` turns true; the handle ends when every connection has closed.
pub async fn listen(
    listener: tokio::net::TcpListener,
    state: AppState,
    config: &crate::config::ServeConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let limits = connections::ConnectionLimits {
        header_timeout: config.http.header_timeout,
        body_timeout: config.http.body_timeout,
        idle_timeout: config.http.idle_timeout,
        max_connections: config.http.max_connections,
    };
    let metrics = match config.http.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|err| {
                    format!(
                        "cannot listen on {address} for /metrics (HOOKIT_METRICS_LISTEN): {err}"
                    )
                })?;
            if let Ok(bound) = listener.local_addr() {
                tracing::info!("metrics served on http://{bound}/metrics");
            }
            let router = metrics_route::own_router(state.clone());
            Some(tokio::spawn(connections::serve(
                listener,
                router,
                limits,
                stop.clone(),
            )))
        }
        None => None,
    };
    let router = router(state, config.max_body_bytes);
    Ok(tokio::spawn(async move {
        let api = connections::serve(listener, router, limits, stop);
        match metrics {
            Some(metrics) => {
                let (_, _) = tokio::join!(api, metrics);
            }
            None => api.await,
        }
    }))
}

/// Answers 431 with a JSON error for a request with more header lines than
/// [`connections::MAX_HEADERS`] or more than [`MAX_HEADER_BYTES`] of them. (Beyond
/// what hyper's parser takes in, hyper answers a bare 431 before any of this runs.)
async fn refuse_oversized_headers(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() <= connections::MAX_HEADERS && bytes <= MAX_HEADER_BYTES {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request_header_fields_too_large",
        format!(
            "the request has {} header lines, {bytes} bytes in all; at most {} lines and {} bytes are accepted",
            headers.len(),
            connections::MAX_HEADERS,
            MAX_HEADER_BYTES
        ),
    )
    .into_response()
}

/// The most bytes of header lines a request may carry.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The API's route table and its finished OpenAPI document, assembled exactly as
/// [`router`] assembles them but without state, authentication layers or outer
/// middleware (none of which adds a route): for tests and tools that check the two
/// agree.
pub fn describe() -> (Router<AppState>, serde_json::Value) {
    let (routes, document) = assemble(None).split_for_parts();
    (routes, openapi::finish(document))
}

/// Every route of the API. Each is registered with `routes!`, which takes its method
/// and path from the handler's `#[utoipa::path]`, so nothing is served undocumented.
/// With `state`, each API gets its authentication layer; without, only its
/// documentation.
fn assemble(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(health::routes())
        .merge(metrics_route::routes(state))
        .routes(routes!(openapi::openapi_json))
        .nest(
            "/v1/operator",
            guard(operator::routes(), Guard::Operator, state),
        )
        .nest("/v1/ingest", guard(ingest::routes(), Guard::Ingest, state))
        .nest(
            "/v1/partner",
            guard(partner::routes(), Guard::Partner, state),
        )
}

/// Puts `routes` behind `guard`: its layer (when serving) and its documentation.
fn guard(
    routes: OpenApiRouter<AppState>,
    guard: Guard,
    state: Option<&AppState>,
) -> OpenApiRouter<AppState> {
    let mut routes = match (state, guard) {
        (None, _) => routes,
        (Some(state), Guard::Operator) => routes
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                require_operator,
            ))
            .layer(middleware::map_response(no_store)),
        (Some(state), Guard::Ingest) => routes.route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_ingest,
        )),
        (Some(state), Guard::Partner) => routes.route_layer(middleware::from_fn_with_state(
            state.clone(),
            partner::authenticate,
        )),
    };
    openapi::document_guard(routes.get_openapi_mut(), guard);
    routes
}

/// Operator answers can carry secrets (partner credentials, rotated secrets, minted
/// tokens): no cache may keep them.
async fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// A 401 says which scheme to answer with (`WWW-Authenticate`); other answers pass.
fn challenge(mut response: Response, scheme: &'static str) -> Response {
    if response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static(scheme),
        );
    }
    response
}

/// The challenge of the bearer-token APIs.
const BEARER_CHALLENGE: &str = "Bearer";

/// Gives every request an id, for the partner API's bodies and every answer's
/// `x-request-id` header.
async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = crate::ids::IdKind::Request.generate();
    request
        .extensions_mut()
        .insert(partner::RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

pub(crate) async fn unknown_route() -> ApiError {
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

async fn require_operator(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = state.trusted_proxies.client_of(&request);
    let presented = bearer(&request, "operator").map(str::to_owned);
    let key = PresentedKey::token(presented.as_deref().unwrap_or_default());
    if let Err(throttled) = state.auth_throttle.check(client, key) {
        return throttled_response(throttled);
    }
    let identified = match presented {
        Ok(token) => identify_operator(&state, &token).await,
        Err(err) => Err(err),
    };
    match identified {
        Ok(operator) => {
            request.extensions_mut().insert(operator);
            next.run(request).await
        }
        Err(err) => {
            if err.status == StatusCode::UNAUTHORIZED {
                state.auth_throttle.record_failure(client, key);
            }
            state.metrics.auth_failure("operator");
            challenge(err.into_response(), BEARER_CHALLENGE)
        }
    }
}

/// A 429 with `Retry-After` for a throttled client.
fn throttled_response(throttled: throttle::Throttled) -> Response {
    let error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        throttled.message(),
    );
    (
        [(header::RETRY_AFTER, throttled.wait_seconds().to_string())],
        error,
    )
        .into_response()
}

/// The bootstrap token is `root`; any other must be a named token in the store
/// (looked up by its hash, so revoking it takes effect on the next request).
pub(crate) async fn identify_operator(
    state: &AppState,
    presented: &str,
) -> Result<Operator, ApiError> {
    if digests_match(presented, state.operator_token.expose()) {
        return Ok(Operator {
            name: operator::ROOT_TOKEN_NAME.to_owned(),
        });
    }
    let hash = crate::credentials::hash_secret(presented);
    match state.store.find_operator_token(&hash).await? {
        Some(token) => Ok(Operator { name: token.name }),
        None => Err(invalid_token("operator")),
    }
}

async fn require_ingest(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let client = state.trusted_proxies.client_of(&request);
    let key = PresentedKey::token(bearer(&request, "ingest").unwrap_or_default());
    if let Err(throttled) = state.auth_throttle.check(client, key) {
        return throttled_response(throttled);
    }
    match check_bearer(&request, &state.ingest_token, "ingest") {
        Ok(()) => next.run(request).await,
        Err(err) => {
            state.auth_throttle.record_failure(client, key);
            state.metrics.auth_failure("ingest");
            challenge(err.into_response(), BEARER_CHALLENGE)
        }
    }
}

/// Checks `Authorization: Bearer <token>` against the expected token.
fn check_bearer(request: &Request, expected: &Secret, which: &str) -> Result<(), ApiError> {
    let presented = bearer(request, which)?;
    if digests_match(presented, expected.expose()) {
        Ok(())
    } else {
        Err(invalid_token(which))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer<'r>(request: &'r Request, which: &str) -> Result<&'r str, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth_missing",
            format!("send `Authorization: Bearer <{which} token>`"),
        ));
    };
    extract::auth_credentials(value, "Bearer").ok_or_else(|| invalid_token(which))
}

fn invalid_token(which: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "auth_invalid_credential",
        format!("the {which} token is not valid"),
    )
}

/// Compares two secrets in constant time by their digests, so not even the length
/// leaks.
fn digests_match(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into()
}
