//! The one error type every API handler returns, and its JSON shape:
//! `{"error": {"code", "message", "details"}}`.

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API failure: an HTTP status, a stable code, and a message a person can act on.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    /// A failure with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Object(Default::default()),
        }
    }

    /// Adds structured details (for example the offending field).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A 400 about one field of the request.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            format!("`{field}` {problem}"),
        )
        .with_details(json!({ "field": field }))
    }

    /// A 404 for something that does not exist.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            format!("{what} not found"),
        )
    }

    /// The error's JSON body.
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
            }
        })
    }
}

/// How long a client is asked to wait before retrying while the store is unavailable.
pub const STORE_UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.code == "store_unavailable" {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(STORE_UNAVAILABLE_RETRY_AFTER_SECS),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what } => ApiError::not_found(what),
            StoreError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "state_conflict", message)
            }
            err @ StoreError::IdempotencyMismatch { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "request_idempotency_mismatch",
                err.to_string(),
            ),
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; nothing was changed, try again shortly",
                )
            }
            StoreError::Backend(detail) => {
                // The detail can name files and SQL; it goes to the log, not the client.
                tracing::error!(error = %detail, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the store could not complete the request; nothing was changed, try again",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_store_answers_503_with_retry_after_and_its_code() {
        let error = ApiError::from(StoreError::Unavailable("connection refused".into()));
        assert_eq!(error.code, "store_unavailable");
        assert!(
            !error.message.contains("refused"),
            "the detail goes to the log"
        );
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[axum::http::header::RETRY_AFTER],
            STORE_UNAVAILABLE_RETRY_AFTER_SECS.to_string().as_str()
        );
    }
}
