//! Logging in and out. Operators log in with an operator token, partners with
//! `partner_key` + `secret_key`; both are checked by the same code as the APIs'
//! authentication and throttled the same way (`HOOKIT_AUTH_FAILURES_*`).

use super::ConsoleError;
use super::layout::{self, Chrome};
use super::session::{
    self, LOGIN_COOKIE, LoginForm, OperatorSession, PartnerSession, operator_cookie, partner_cookie,
};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::throttle::PresentedKey;
use crate::credentials::hash_secret;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The operator login form, with a fresh login CSRF token in a cookie beside it.
pub(crate) fn operator_form(state: &AppState, parts: &Parts, problem: Option<&str>) -> Response {
    let csrf = session::random_token();
    let page = layout::page(
        "Operator login",
        Chrome::Anonymous,
        html! {
            (layout::notice(problem))
            form class="card login" method="post" action="/console/login" {
                (layout::csrf_field(&csrf))
                label for="token" { "Operator token" }
                input id="token" name="token" type="password" autocomplete="off" required autofocus;
                button type="submit" { "Log in" }
            }
            p { "Partners: " a href="/console/partner/" { "log in to the partner portal" } "." }
        },
    );
    with_login_cookie(state, parts, &csrf, page)
}

/// The partner login form.
pub(crate) fn partner_form(state: &AppState, parts: &Parts, problem: Option<&str>) -> Response {
    let csrf = session::random_token();
    let page = layout::page(
        "Partner portal login",
        Chrome::Anonymous,
        html! {
            (layout::notice(problem))
            form class="card login" method="post" action="/console/partner/login" {
                (layout::csrf_field(&csrf))
                label for="partner_key" { "Partner key" }
                input id="partner_key" name="partner_key" type="text" autocomplete="username" required autofocus;
                label for="secret_key" { "Secret key" }
                input id="secret_key" name="secret_key" type="password" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        },
    );
    with_login_cookie(state, parts, &csrf, page)
}

fn with_login_cookie(
    state: &AppState,
    parts: &Parts,
    csrf: &str,
    page: axum::response::Html<String>,
) -> Response {
    let cookie = session::set_cookie(state, parts, LOGIN_COOKIE, csrf, 3600);
    ([(header::SET_COOKIE, cookie)], page).into_response()
}

fn client(state: &AppState, parts: &Parts) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    state.trusted_proxies.client(peer, &parts.headers)
}

fn throttled(throttled: crate::api::throttle::Throttled) -> ConsoleError {
    ConsoleError::Refused(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        throttled.message(),
    ))
}

/// `POST /console/login`: checks the token as the operator API does.
pub(crate) async fn operator_login(
    State(state): State<AppState>,
    form: LoginForm,
) -> Result<Response, ConsoleError> {
    let LoginForm { parts, fields } = form;
    let token = fields.get("token").unwrap_or_default().to_owned();
    let client = client(&state, &parts);
    let key = PresentedKey::token(&token);
    state.auth_throttle.check(client, key).map_err(throttled)?;
    match crate::api::identify_operator(&state, &token).await {
        Ok(operator) => {
            tracing::info!(operator = %operator.name, "console login");
            let cookie = operator_cookie(&state, &parts, hash_secret(&token));
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/console/")).into_response())
        }
        Err(error) if error.status == StatusCode::UNAUTHORIZED => {
            state.auth_throttle.record_failure(client, key);
            state.metrics.auth_failure("operator");
            let mut answer =
                operator_form(&state, &parts, Some("That operator token is not valid."));
            *answer.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(answer)
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /console/partner/login`: checks the credentials as the partner API does.
pub(crate) async fn partner_login(
    State(state): State<AppState>,
    form: LoginForm,
) -> Result<Response, ConsoleError> {
    let LoginForm { parts, fields } = form;
    let partner_key = fields.get("partner_key").unwrap_or_default().to_owned();
    let secret_key = fields.get("secret_key").unwrap_or_default().to_owned();
    let client = client(&state, &parts);
    let key = PresentedKey::partner_key(&partner_key);
    state.auth_throttle.check(client, key).map_err(throttled)?;
    match crate::api::partner::verify(&state, Ok((partner_key, secret_key))).await {
        Ok(auth) => {
            tracing::info!(partner_id = %auth.partner.id, "partner portal login");
            let cookie =
                partner_cookie(&state, &parts, auth.partner.partner_key, &auth.secret_hash);
            Ok((
                [(header::SET_COOKIE, cookie)],
                Redirect::to("/console/partner/"),
            )
                .into_response())
        }
        Err(error) if error.status == StatusCode::UNAUTHORIZED => {
            state.auth_throttle.record_failure(client, key);
            state.metrics.auth_failure("partner");
            let mut answer = partner_form(
                &state,
                &parts,
                Some("Those credentials are not valid; check the partner key and secret key."),
            );
            *answer.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(answer)
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /console/logout`.
pub(crate) async fn operator_logout(
    State(state): State<AppState>,
    form: session::OperatorForm,
) -> Response {
    tracing::info!(operator = %form.session.operator.name, "console logout");
    let parts = request_parts_placeholder();
    let cookie = OperatorSession::end(&state, &parts);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/console/")).into_response()
}

/// `POST /console/partner/logout`.
pub(crate) async fn partner_logout(
    State(state): State<AppState>,
    form: session::PartnerForm,
) -> Response {
    tracing::info!(partner_id = %form.session.partner.id, "partner portal logout");
    let parts = request_parts_placeholder();
    let cookie = PartnerSession::end(&state, &parts);
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/console/partner/"),
    )
        .into_response()
}

/// Parts of an empty request: a deleting cookie needs no `Secure` decision.
fn request_parts_placeholder() -> Parts {
    axum::http::Request::new(()).into_parts().0
}
