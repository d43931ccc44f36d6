//! The web console under `/console/`: pages rendered on the server (with `maud`) for
//! operators (log in with an operator token) and for partners (log in with
//! `partner_key` + `secret_key`).
//!
//! The console is a client of the store exactly like the APIs are: its handlers read
//! and write through the same [`Store`](crate::store::Store) methods with the same
//! audit entries (under the operator token's name), and return. They never send a
//! webhook; a replay makes a delivery pending and the dispatcher does the rest.
//!
//! Sessions live in cookies sealed with the master key ([`session`]), so any `serve`
//! process sharing the database and master key accepts them, and each request checks
//! the session still stands (token not revoked; partner secret not rotated, partner
//! not disabled). Every form carries a per-session CSRF token. Every page is sent
//! with a `Content-Security-Policy` that allows only the console's own script and
//! stylesheet. These HTML routes are not part of `/openapi.json`.

mod assets;
mod audit;
mod deliveries;
mod delivery_view;
mod endpoints;
mod error;
mod form;
mod layout;
mod login;
mod orders;
mod overview;
mod partners;
mod portal;
mod portal_actions;
mod retry;
mod session;

use crate::api::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};

pub(crate) use error::ConsoleError;

/// The policy every console answer carries: scripts and styles only from the console
/// itself (no inline script), no framing, forms only to the console.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the console's routes to `routes` unless `HOOKIT_CONSOLE=off`.
pub fn mount(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    if state.console.enabled {
        routes.merge(console_routes())
    } else {
        routes
    }
}

fn console_routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(overview::home))
        .route("/console/login", post(login::operator_login))
        .route("/console/logout", post(login::operator_logout))
        .route(
            "/console/partners",
            get(partners::list).post(partners::create),
        )
        .route("/console/partners/{id}", get(partners::show))
        .route("/console/partners/{id}/{action}", post(partners::act))
        .route(
            "/console/partners/{id}/mappings",
            post(partners::put_mapping),
        )
        .route(
            "/console/partners/{id}/mappings/{mapping_id}/delete",
            post(partners::delete_mapping),
        )
        .route("/console/deliveries", get(deliveries::list))
        .route(
            "/console/deliveries/replay",
            post(deliveries::replay_matching),
        )
        .route("/console/deliveries/retry", post(retry::retry_matching))
        .route("/console/deliveries/{event_id}", get(deliveries::show))
        .route("/console/deliveries/{event_id}/body", get(deliveries::body))
        .route(
            "/console/deliveries/{event_id}/replay",
            post(deliveries::replay),
        )
        .route("/console/deliveries/{event_id}/retry", post(retry::retry))
        .route("/console/endpoints/enable", post(endpoints::enable))
        .route("/console/orders", get(orders::lookup))
        .route("/console/orders/{id}", get(orders::show))
        .route("/console/audit", get(audit::list))
        .route(
            "/console/partner",
            get(|| async { Redirect::to("/console/partner/") }),
        )
        .route("/console/partner/", get(portal::home))
        .route("/console/partner/login", post(login::partner_login))
        .route("/console/partner/logout", post(login::partner_logout))
        .route("/console/partner/deliveries", get(portal::deliveries))
        .route(
            "/console/partner/deliveries/{event_id}",
            get(portal::delivery),
        )
        .route(
            "/console/partner/deliveries/{event_id}/replay",
            post(portal_actions::replay),
        )
        .route(
            "/console/partner/webhooks/test",
            post(portal_actions::test_webhook),
        )
        .route("/console/assets/{file}", get(assets::serve))
        .layer(axum::middleware::map_response(protect))
}

/// Security headers on every console answer.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
