//! Console sessions: cookies sealed with the master key (XChaCha20-Poly1305, as the
//! webhook secrets are), so any `serve` process with the same key accepts them and no
//! session table is needed.
//!
//! A sealed session holds what lets every request check it still stands: for an
//! operator, the hash of the token it logged in with (the token must still be the
//! bootstrap token or a named token in the store, so revoking it ends the session);
//! for a partner, its `partner_key` and a fingerprint of its current secret hash
//! (rotating the secret or disabling the partner ends the session). It also holds the
//! session's CSRF token, which every form must post back, and its expiry.

use super::ConsoleError;
use super::form::Fields;
use crate::api::AppState;
use crate::api::operator::{Operator, ROOT_TOKEN_NAME};
use crate::credentials::hash_secret;
use crate::store::{Partner, now_millis};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

/// The operator session's cookie.
pub(crate) const OPERATOR_COOKIE: &str = "hookit_console";
/// The partner session's cookie.
pub(crate) const PARTNER_COOKIE: &str = "hookit_partner";
/// The cookie that pairs a login form with its CSRF token, before any session exists.
pub(crate) const LOGIN_COOKIE: &str = "hookit_console_login";
/// The largest form the console reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Who a sealed session is for.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Operator,
    Partner,
}

impl Kind {
    fn cookie(self) -> &'static str {
        match self {
            Kind::Operator => OPERATOR_COOKIE,
            Kind::Partner => PARTNER_COOKIE,
        }
    }

    fn login_page(self) -> &'static str {
        match self {
            Kind::Operator => "/console/",
            Kind::Partner => "/console/partner/",
        }
    }

    /// Bound into the ciphertext, so one kind's cookie never opens as the other.
    fn associated_data(self) -> &'static [u8] {
        match self {
            Kind::Operator => b"hookit console session: operator",
            Kind::Partner => b"hookit console session: partner",
        }
    }
}

/// The sealed content of a session cookie. `subject` is the operator token's hash or
/// the partner key; `check` is empty or the partner's secret fingerprint.
#[derive(Serialize, Deserialize)]
struct Sealed {
    subject: String,
    check: String,
    csrf: String,
    expires_at: i64,
}

/// A random token for CSRF protection.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fingerprint of a partner's secret hash: changes when the secret is rotated.
fn secret_fingerprint(secret_hash: &str) -> String {
    hex::encode(&Sha256::digest(format!("console session: {secret_hash}").as_bytes())[..16])
}

fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

fn seal(state: &AppState, kind: Kind, sealed: &Sealed) -> String {
    let plain = serde_json::to_vec(sealed).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(state.master_key.encrypt(&plain, kind.associated_data()))
}

fn open(state: &AppState, kind: Kind, headers: &HeaderMap) -> Option<Sealed> {
    let value = cookie(headers, kind.cookie())?;
    let blob = URL_SAFE_NO_PAD.decode(value).ok()?;
    let plain = state
        .master_key
        .decrypt(&blob, kind.associated_data())
        .ok()?;
    let sealed: Sealed = serde_json::from_str(plain.expose()).ok()?;
    (sealed.expires_at > now_millis()).then_some(sealed)
}

/// The value of the cookie `name`, if the request carries it.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the browser reached us over https: directly never (serve speaks plain
/// HTTP), or per `X-Forwarded-Proto` from a trusted proxy.
fn over_https(state: &AppState, parts: &Parts) -> bool {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
    else {
        return false;
    };
    state.trusted_proxies.trusts(peer)
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value with the console's attributes; `max_age` 0 deletes it.
pub(crate) fn set_cookie(
    state: &AppState,
    parts: &Parts,
    name: &str,
    value: &str,
    max_age_secs: u64,
) -> HeaderValue {
    let secure = if over_https(state, parts) {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The cookie that starts an operator session for the token with this hash.
pub(crate) fn operator_cookie(state: &AppState, parts: &Parts, token_hash: String) -> HeaderValue {
    start(state, parts, Kind::Operator, token_hash, String::new())
}

/// The cookie that starts a partner session.
pub(crate) fn partner_cookie(
    state: &AppState,
    parts: &Parts,
    partner_key: String,
    secret_hash: &str,
) -> HeaderValue {
    start(
        state,
        parts,
        Kind::Partner,
        partner_key,
        secret_fingerprint(secret_hash),
    )
}

fn start(
    state: &AppState,
    parts: &Parts,
    kind: Kind,
    subject: String,
    check: String,
) -> HeaderValue {
    let ttl = state.console.session_ttl;
    let sealed = Sealed {
        subject,
        check,
        csrf: random_token(),
        expires_at: now_millis().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
    };
    let value = seal(state, kind, &sealed);
    set_cookie(state, parts, kind.cookie(), &value, ttl.as_secs())
}

/// The cookie that ends a session of `kind`.
fn end(state: &AppState, parts: &Parts, kind: Kind) -> HeaderValue {
    set_cookie(state, parts, kind.cookie(), "", 0)
}

/// A logged-in operator.
#[derive(Debug, Clone)]
pub(crate) struct OperatorSession {
    pub operator: Operator,
    pub csrf: String,
}

impl OperatorSession {
    /// The cookie that ends this kind of session.
    pub(crate) fn end(state: &AppState, parts: &Parts) -> HeaderValue {
        end(state, parts, Kind::Operator)
    }
}

/// A logged-in partner.
#[derive(Debug, Clone)]
pub(crate) struct PartnerSession {
    pub partner: Partner,
    pub csrf: String,
}

impl PartnerSession {
    /// The cookie that ends this kind of session.
    pub(crate) fn end(state: &AppState, parts: &Parts) -> HeaderValue {
        end(state, parts, Kind::Partner)
    }
}

/// The operator session of a request, if one stands: the token it was opened with is
/// still the bootstrap token or a named token in the store.
pub(crate) async fn operator_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<OperatorSession>, ConsoleError> {
    let Some(sealed) = open(state, Kind::Operator, headers) else {
        return Ok(None);
    };
    let name = if same(&sealed.subject, &hash_secret(state.operator_token.expose())) {
        Some(ROOT_TOKEN_NAME.to_owned())
    } else {
        state
            .store
            .find_operator_token(&sealed.subject)
            .await?
            .map(|token| token.name)
    };
    Ok(name.map(|name| OperatorSession {
        operator: Operator { name },
        csrf: sealed.csrf,
    }))
}

/// The partner session of a request, if one stands: the partner exists, is enabled
/// and its secret is the one the session was opened with.
pub(crate) async fn partner_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<PartnerSession>, ConsoleError> {
    let Some(sealed) = open(state, Kind::Partner, headers) else {
        return Ok(None);
    };
    let Some(auth) = state.store.find_partner_by_key(&sealed.subject).await? else {
        return Ok(None);
    };
    let current = secret_fingerprint(&auth.secret_hash);
    Ok(
        (auth.partner.enabled && same(&current, &sealed.check)).then_some(PartnerSession {
            partner: auth.partner,
            csrf: sealed.csrf,
        }),
    )
}

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        operator_session(state, &parts.headers)
            .await?
            .ok_or(ConsoleError::LoginNeeded(Kind::Operator.login_page()))
    }
}

impl FromRequestParts<AppState> for PartnerSession {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        partner_session(state, &parts.headers)
            .await?
            .ok_or(ConsoleError::LoginNeeded(Kind::Partner.login_page()))
    }
}

/// A form posted by a logged-in operator, its CSRF token checked.
pub(crate) struct OperatorForm {
    pub session: OperatorSession,
    pub fields: Fields,
}

/// A form posted by a logged-in partner, its CSRF token checked.
pub(crate) struct PartnerForm {
    pub session: PartnerSession,
    pub fields: Fields,
}

/// A login form, its CSRF token checked against the login cookie; carries the
/// request's parts for setting the session cookie.
pub(crate) struct LoginForm {
    pub parts: Parts,
    pub fields: Fields,
}

async fn read_form(body: axum::body::Body) -> Result<Fields, ConsoleError> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            ConsoleError::invalid(
                "form",
                format!("is over {MAX_FORM_BYTES} bytes or could not be read"),
            )
        })?;
    Ok(Fields::parse(&bytes))
}

fn check_csrf(fields: &Fields, expected: &str) -> Result<(), ConsoleError> {
    match fields.get("csrf") {
        Some(given) if !expected.is_empty() && same(given, expected) => Ok(()),
        _ => Err(ConsoleError::csrf()),
    }
}

impl FromRequest<AppState> for OperatorForm {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = OperatorSession::from_request_parts(&mut parts, state).await?;
        let fields = read_form(body).await?;
        check_csrf(&fields, &session.csrf)?;
        Ok(OperatorForm { session, fields })
    }
}

impl FromRequest<AppState> for PartnerForm {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = PartnerSession::from_request_parts(&mut parts, state).await?;
        let fields = read_form(body).await?;
        check_csrf(&fields, &session.csrf)?;
        Ok(PartnerForm { session, fields })
    }
}

impl FromRequest<AppState> for LoginForm {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let fields = read_form(body).await?;
        let expected = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
        check_csrf(&fields, expected)?;
        Ok(LoginForm { parts, fields })
    }
}
