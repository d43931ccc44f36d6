//! Request extractors that turn every bad input into an [`ApiError`] naming the field
//! and the problem, instead of axum's plain-text rejections.

use super::connections::{BodyDeadlineExceeded, REQUEST_TIMEOUT};
use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::json;

/// The raw request body, within the configured size limit.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        read_json_body(request, state).await.map(RawBody)
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
        let raw = read_json_body(request, state).await?;
        let value = parse_json(&raw)?;
        Ok(JsonBody { value, raw })
    }
}

/// Reads a body that, when there is one, must be JSON by its `Content-Type`. A
/// body-less request needs no type.
async fn read_json_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).cloned();
    let raw = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| body_rejection(&rejection))?;
    if raw.iter().all(u8::is_ascii_whitespace) || content_type.as_ref().is_some_and(is_json) {
        return Ok(raw);
    }
    let given = content_type
        .as_ref()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "request_unsupported_media_type",
        match &given {
            Some(given) => format!(
                "the body's Content-Type is {given:?}; send JSON with `Content-Type: application/json`"
            ),
            None => "the body has no Content-Type; send JSON with `Content-Type: application/json`"
                .to_owned(),
        },
    )
    .with_details(json!({ "content_type": given })))
}

/// `application/json` (any parameters, such as a charset) or a `+json` type.
fn is_json(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype
                    .get(subtype.len() - 5..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case("+json")))
}

/// The credentials of an `Authorization` header value in `scheme` (compared without
/// regard to case, as RFC 9110 says), or `None` for another scheme or none at all.
pub fn auth_credentials<'v>(value: &'v HeaderValue, scheme: &str) -> Option<&'v str> {
    let text = value.to_str().ok()?.trim_start();
    let (given, credentials) = text.split_once([' ', '\t'])?;
    let credentials = credentials.trim();
    (given.eq_ignore_ascii_case(scheme) && !credentials.is_empty()).then_some(credentials)
}

fn body_rejection(rejection: &axum::extract::rejection::BytesRejection) -> ApiError {
    if let Some(missed) = deadline_missed(rejection) {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
            missed.to_string(),
        );
    }
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

/// The body deadline, if that is why the body could not be read.
fn deadline_missed(
    rejection: &axum::extract::rejection::BytesRejection,
) -> Option<&BodyDeadlineExceeded> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if let Some(missed) = error.downcast_ref::<BodyDeadlineExceeded>() {
            return Some(missed);
        }
        cause = error.source();
    }
    None
}

/// Refuses a body that receivers would read differently or not at all, naming the
/// field: a key given twice in one object (parsers differ on which value wins), a
/// lone UTF-16 surrogate, a number beyond a double, nesting deeper than 64 (see
/// `duplicate_keys`).
pub fn refuse_unreadable_json(raw: &[u8]) -> Result<(), ApiError> {
    match super::duplicate_keys::first_flaw(raw) {
        None => Ok(()),
        Some((field, flaw)) => Err(ApiError::invalid_field(&field, flaw.problem())),
    }
}

/// Parses JSON, reporting the path of the first bad field (`items[2].order.status`).
/// JSON that receivers would misread is refused (see [`refuse_unreadable_json`]).
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            "the request body is empty; send a JSON object",
        ));
    }
    refuse_unreadable_json(raw)?;
    let mut document: serde_json::Value = serde_json::from_slice(raw).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            format!("the request body is not valid JSON: {err}"),
        )
    })?;
    integral_floats_as_integers(&mut document);
    let value = serde_path_to_error::deserialize(document).map_err(|err| {
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
    Ok(value)
}

/// Writes `2.0` as `2`: JSON Schema, and so the API's document, counts an integral
/// number as an integer however it is spelled.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) if number.is_f64() => {
            if let Some(float) = number.as_f64() {
                // In range of i64 and with no fraction, the conversion is exact.
                if float.fract() == 0.0 && float.abs() < 9.0e15 {
                    *value = Value::from(float as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
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
            .map_err(|rejection| path_rejection(&rejection))
    }
}

/// A path parameter that could not be read (not UTF-8 once percent-decoded, or not of
/// its type), as a 400 naming it.
pub fn path_rejection(rejection: &axum::extract::rejection::PathRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "request_invalid",
        format!("invalid path parameter: {}", rejection.body_text()),
    )
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
