//! What a console request can end in besides its page: a redirect to the login form,
//! or an error page that names the same stable code the APIs use.

use super::layout;
use crate::api::error::ApiError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

/// Why a console request did not get its page.
#[derive(Debug)]
pub(crate) enum ConsoleError {
    /// No valid session: off to this login page.
    LoginNeeded(&'static str),
    /// Refused, with the status and stable code the APIs would answer.
    Refused(ApiError),
}

impl ConsoleError {
    /// A form posted without this session's CSRF token.
    pub(crate) fn csrf() -> Self {
        ConsoleError::Refused(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "this form was not sent from the console page that shows it (its CSRF token is \
             missing or stale); reload the page and submit it again",
        ))
    }

    /// A field of a form or filter that could not be used.
    pub(crate) fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        ConsoleError::Refused(ApiError::invalid_field(field, problem))
    }

    /// Something that does not exist, or is not this partner's to see.
    pub(crate) fn not_found(what: impl std::fmt::Display) -> Self {
        ConsoleError::Refused(ApiError::not_found(what))
    }
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        ConsoleError::Refused(error)
    }
}

impl From<StoreError> for ConsoleError {
    fn from(error: StoreError) -> Self {
        ConsoleError::Refused(error.into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::LoginNeeded(login) => Redirect::to(login).into_response(),
            ConsoleError::Refused(error) => (
                error.status,
                layout::error_page(error.status, error.code, &error.message),
            )
                .into_response(),
        }
    }
}
