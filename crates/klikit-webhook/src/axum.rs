//! axum 0.8 integration (feature `axum`): the [`VerifiedEvent`] extractor.
//!
//! A handler that takes a [`VerifiedEvent`] only runs for a correctly signed delivery
//! with a valid envelope. Anything else is answered for it: 403 for a signature
//! problem, 400 for a bad header or body, each with a JSON body
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! The secret comes from the router state through [`FromRef`], so the state can be a
//! [`WebhookSecretKey`] itself or any struct that holds one:
//!
//! ```
//! use axum::{Router, extract::FromRef, http::StatusCode, routing::post};
//! use klikit_webhook::axum::{VerifiedEvent, WebhookSecretKey};
//! use klikit_webhook::{Dedupe, MemoryDedupe};
//! use std::sync::Arc;
//!
//! #[derive(Clone)]
//! struct AppState {
//!     secret: WebhookSecretKey,
//!     seen: Arc<MemoryDedupe>,
//! }
//!
//! impl FromRef<AppState> for WebhookSecretKey {
//!     fn from_ref(state: &AppState) -> Self {
//!         state.secret.clone()
//!     }
//! }
//!
//! async fn klikit_webhook(
//!     axum::extract::State(state): axum::extract::State<AppState>,
//!     VerifiedEvent(event): VerifiedEvent,
//! ) -> StatusCode {
//!     // Ask first, record only once the event was handled: recorded before, a
//!     // failure here would make klikit's retry look like a duplicate.
//!     match state.seen.already_handled(&event.event_id) {
//!         Ok(true) => return StatusCode::OK, // a retry of something already handled
//!         Ok(false) => {}
//!         Err(_) => return StatusCode::SERVICE_UNAVAILABLE, // klikit will retry
//!     }
//!     for order in &event.envelope.orders {
//!         println!("order {} is now {:?}", order.id, order.status);
//!     }
//!     match state.seen.record_handled(&event.event_id) {
//!         Ok(()) => StatusCode::OK,
//!         Err(_) => StatusCode::SERVICE_UNAVAILABLE,
//!     }
//! }
//!
//! let state = AppState {
//!     secret: WebhookSecretKey::new("whsk_test_0123456789abcdef"),
//!     seen: Arc::new(MemoryDedupe::new(100_000, std::time::Duration::from_secs(3 * 86_400))),
//! };
//! let app: Router = Router::new()
//!     .route("/klikit/webhooks", post(klikit_webhook))
//!     .with_state(state);
//! ```

use std::fmt;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::receive::{Rejection, WebhookEvent, receive_any};

/// The partner's `webhook_secret_key` — or, around a rotation, several of them —
/// cheap to clone, never printed by `Debug`.
#[derive(Clone)]
pub struct WebhookSecretKey(Arc<[Vec<u8>]>);

impl WebhookSecretKey {
    /// Wraps the secret exactly as issued (do not trim it or add a newline).
    pub fn new(secret: impl Into<Vec<u8>>) -> WebhookSecretKey {
        WebhookSecretKey(Arc::from([secret.into()]))
    }

    /// Several secrets, any of which may sign a delivery: the new and the previous
    /// `webhook_secret_key` for the days around a rotation (klikit signs with the
    /// previous one until the rotation's grace window ends). The first is the one
    /// [`expose`](Self::expose) shows; an empty list verifies nothing.
    ///
    /// ```
    /// use klikit_webhook::axum::WebhookSecretKey;
    ///
    /// let keys = WebhookSecretKey::any_of(["whsk_new", "whsk_old"]);
    /// assert_eq!(keys.all().len(), 2);
    /// assert_eq!(keys.expose(), b"whsk_new");
    /// ```
    pub fn any_of<S: Into<Vec<u8>>>(secrets: impl IntoIterator<Item = S>) -> WebhookSecretKey {
        WebhookSecretKey(secrets.into_iter().map(Into::into).collect())
    }

    /// The (first) secret's bytes; empty if there is none.
    pub fn expose(&self) -> &[u8] {
        self.0.first().map(Vec::as_slice).unwrap_or_default()
    }

    /// Every secret held, in the order given.
    pub fn all(&self) -> &[Vec<u8>] {
        &self.0
    }
}

impl fmt::Debug for WebhookSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecretKey(<redacted>)")
    }
}

/// A verified, parsed delivery, extracted from the request. Consumes the body, so it
/// must be the last extractor of a handler.
#[derive(Debug, Clone)]
pub struct VerifiedEvent(pub WebhookEvent);

/// Why [`VerifiedEvent`] refused a request. Answers with a JSON error body.
#[derive(Debug, thiserror::Error)]
pub enum VerifiedEventRejection {
    /// The body could not be read (too large, connection lost).
    #[error("the request body could not be read: {0}")]
    Body(#[source] BytesRejection),
    /// The delivery did not verify or parse.
    #[error(transparent)]
    Webhook(#[from] Rejection),
}

impl VerifiedEventRejection {
    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            VerifiedEventRejection::Body(err) => err.status(),
            VerifiedEventRejection::Webhook(err) => {
                StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::BAD_REQUEST)
            }
        }
    }

    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            VerifiedEventRejection::Body(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                "body_too_large"
            }
            VerifiedEventRejection::Body(_) => "body_unreadable",
            VerifiedEventRejection::Webhook(err) => err.code(),
        }
    }
}

/// A JSON error response `{"error": {"code", "message"}}`.
fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl IntoResponse for VerifiedEventRejection {
    fn into_response(self) -> Response {
        json_error(self.status(), self.code(), &self.to_string())
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
        json_error(status, self.code(), &self.to_string())
    }
}

impl<S> FromRequest<S> for VerifiedEvent
where
    S: Send + Sync,
    WebhookSecretKey: FromRef<S>,
{
    type Rejection = VerifiedEventRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let secret = WebhookSecretKey::from_ref(state);
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(VerifiedEventRejection::Body)?;
        let event = receive_any(secret.all(), &headers, &body)?;
        Ok(VerifiedEvent(event))
    }
}
