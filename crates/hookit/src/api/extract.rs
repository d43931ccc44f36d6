//! Request extractors that turn every bad input into an [`ApiError`] naming the field
//! and the problem, instead of axum's plain-text rejections.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// The raw request body, within the configured size limit.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection| body_rejection(&rejection))
    }
}

/// A JSON body parsed into `T`, with the raw bytes kept (for idempotency digests).
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| body_rejection(&rejection))?;
        let value = parse_json(&raw)?;
        Ok(JsonBody { value, raw })
    }
}

fn body_rejection(rejection: &axum::extract::rejection::BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "request_too_large",
            "the request body is larger than the limit (HOOKIT_MAX_BODY_BYTES); split it into smaller requests",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            format!("cannot read the request body: {rejection}"),
        )
    }
}

/// Refuses a body in which one object gives a key twice, naming the field: parsers
/// differ on which value wins (see `duplicate_keys`).
pub fn refuse_duplicate_keys(raw: &[u8]) -> Result<(), ApiError> {
    match super::duplicate_keys::first_duplicate(raw) {
        None => Ok(()),
        Some(field) => Err(ApiError::invalid_field(
            &field,
            "is given more than once in its object; give each key once",
        )),
    }
}

/// Parses JSON, reporting the path of the first bad field (`items[2].order.status`).
/// A key given twice in one object is refused (see [`refuse_duplicate_keys`]).
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            "the request body is empty; send a JSON object",
        ));
    }
    refuse_duplicate_keys(raw)?;
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "request_invalid",
                format!("the request body is not valid: {inner}"),
            )
        } else {
            ApiError::invalid_field(&path, format!("is invalid: {inner}"))
        }
    })?;
    deserializer.end().map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            format!("unexpected data after the JSON value: {err}"),
        )
    })?;
    Ok(value)
}

/// A path parameter that failed to parse becomes a 400 naming the parameter.
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParam(value))
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "request_invalid",
                    format!("invalid path parameter: {}", rejection.body_text()),
                )
            })
    }
}

/// A query string that failed to parse becomes a 400 naming the parameter.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| QueryParams(value))
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "request_invalid",
                    format!("invalid query string: {}", rejection.body_text()),
                )
            })
    }
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header, if sent: 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII
/// characters, surrounding spaces ignored.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    // Visible ASCII only (`!` to `~`): no spaces, tabs or other controls inside a key.
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| {
            !key.is_empty()
                && key.len() <= MAX_IDEMPOTENCY_KEY
                && key.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(|key| Some(key.to_owned()))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
            )
        })
}
