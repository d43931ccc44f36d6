//! The partner API under `/v1/partner/`: Basic `partner_key:secret_key`, answers
//! `{"request_id", "data"}` or `{"request_id", "error"}`, and a partner sees only the
//! orders of the (brand, branch) pairs it is mapped to.

pub(crate) mod deliveries;
pub mod in_flight;
mod orders;
mod status;
mod test_webhook;
mod webhooks;

use super::AppState;
use super::error::ApiError;
use super::throttle::PresentedKey;
use crate::credentials;
use crate::store::PartnerAuth;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The partner routes, before their authentication layer ([`authenticate`], applied
/// with its documentation by the API's assembly).
pub(super) fn routes() -> OpenApiRouter<AppState> {
    use deliveries::*;
    use orders::*;
    use status::*;
    use test_webhook::*;
    use webhooks::*;
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(change_status))
        .routes(routes!(webhooks))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(replay_delivery))
        .routes(routes!(test_webhook))
}

/// The id of the request, set for every request by the API's outer layer.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The partner a request authenticated as.
#[derive(Clone, Debug)]
pub struct PartnerIdentity {
    pub id: String,
}

/// A partner API answer: the JSON of `data` is written as given, so order records
/// keep their exact bytes.
pub struct PartnerReply {
    pub status: StatusCode,
    pub request_id: String,
    pub data: Vec<u8>,
}

impl IntoResponse for PartnerReply {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(self.data.len() + 64);
        body.extend_from_slice(b"{\"request_id\":");
        body.extend_from_slice(json!(self.request_id).to_string().as_bytes());
        body.extend_from_slice(b",\"data\":");
        body.extend_from_slice(&self.data);
        body.push(b'}');
        let mut response = (self.status, Body::from(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// A partner API failure, carrying the request id into its body.
pub struct PartnerError {
    pub request_id: String,
    pub error: ApiError,
    pub retry_after: Option<u64>,
}

impl PartnerError {
    pub fn new(request_id: &RequestId, error: impl Into<ApiError>) -> Self {
        PartnerError {
            request_id: request_id.0.clone(),
            error: error.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for PartnerError {
    fn into_response(self) -> Response {
        let mut body = self.error.body();
        body["request_id"] = json!(self.request_id);
        let mut response = (self.error.status, axum::Json(body)).into_response();
        // A partner told "the store is unavailable" is told when to come back, as the
        // other APIs' clients are.
        let store_down = (self.error.code == "store_unavailable")
            .then_some(super::error::STORE_UNAVAILABLE_RETRY_AFTER_SECS);
        if let Some(seconds) = self.retry_after.or(store_down) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// One message for every credential failure, so nothing tells which part was wrong.
fn invalid_credential() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "auth_invalid_credential",
        "the partner credentials are not valid; check partner_key and secret_key, or ask your operator to rotate the secret",
    )
}

pub(super) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(String::new()));
    let client = state.trusted_proxies.client_of(&request);
    let credentials = basic_credentials(&request);
    let presented = presented_key(&request, &credentials);
    if let Err(throttled) = state.auth_throttle.check(client, presented) {
        let error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            throttled.message(),
        );
        return PartnerError {
            retry_after: Some(throttled.wait_seconds()),
            ..PartnerError::new(&request_id, error)
        }
        .into_response();
    }
    match verify(&state, credentials).await {
        Ok(partner) => {
            request.extensions_mut().insert(PartnerIdentity {
                id: partner.partner.id,
            });
            next.run(request).await
        }
        Err(error) => {
            if error.status == StatusCode::UNAUTHORIZED {
                state.auth_throttle.record_failure(client, presented);
                state.metrics.auth_failure("partner");
            }
            let response = PartnerError::new(&request_id, error).into_response();
            super::challenge(response, BASIC_CHALLENGE)
        }
    }
}

/// The challenge of the partner API's 401s.
const BASIC_CHALLENGE: &str = "Basic realm=\"hookit partner API\"";

/// What the throttle counts failures against: the partner key when the header is a
/// readable Basic credential, else the raw header (or its absence).
fn presented_key(
    request: &Request,
    credentials: &Result<(String, String), ApiError>,
) -> PresentedKey {
    match credentials {
        Ok((key, _)) => PresentedKey::partner_key(key),
        Err(_) => PresentedKey::token(
            request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default(),
        ),
    }
}

/// `(partner_key, secret_key)` from `Authorization: Basic …`, or why there is none.
fn basic_credentials(request: &Request) -> Result<(String, String), ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth_missing",
            "send `Authorization: Basic base64(partner_key:secret_key)`",
        ));
    };
    let decoded = super::extract::auth_credentials(value, "Basic")
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid_credential)?;
    let (key, secret) = decoded.split_once(':').ok_or_else(invalid_credential)?;
    Ok((key.to_owned(), secret.to_owned()))
}

pub(crate) async fn verify(
    state: &AppState,
    credentials: Result<(String, String), ApiError>,
) -> Result<PartnerAuth, ApiError> {
    let (key, secret) = credentials?;
    let found = state.store.find_partner_by_key(&key).await?;
    // The hash is compared even for an unknown key, so timing does not tell whether
    // the key exists.
    let hash = found
        .as_ref()
        .map_or("sha256:0000", |partner| partner.secret_hash.as_str());
    let matches = credentials::secret_matches(&secret, hash);
    match found {
        Some(partner) if matches && partner.partner.enabled => Ok(partner),
        // Said only to whoever proves the secret, so it tells a guesser nothing.
        Some(_) if matches => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "partner_disabled",
            "this partner is disabled: its API access and webhooks are paused, and its order \
             changes are kept and delivered in order once an operator enables it",
        )),
        _ => Err(invalid_credential()),
    }
}
