//! `hookit listen --forward-to URL`: hands each verified delivery, headers and raw
//! body unchanged, to the partner's own application, and brings back its answer.
//!
//! Only the headers that describe one hop of the connection (`host`,
//! `content-length`, `connection`, `transfer-encoding`, ...) are left to the client;
//! everything klikit sent, the signature included, reaches the application as sent,
//! so it can verify the delivery itself.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How long the application may take to answer a forwarded delivery. Longer than
/// hookit's own 10 s, so that the sender's timeout, not ours, is what a slow
/// application meets.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);

/// Headers that belong to one hop of a connection and are never forwarded.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

/// Why a delivery could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for --forward-to: {0}")]
    Client(reqwest::Error),
    /// The application did not answer.
    #[error("{url} did not answer: {source} (is your application running and listening there?)")]
    Unreachable {
        /// The forward target.
        url: String,
        /// What failed.
        source: reqwest::Error,
    },
}

/// The application's answer to one forwarded delivery.
pub struct Forwarded {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Forwarded {
    /// Whether the application acknowledged the delivery (any 2xx).
    pub fn acknowledged(&self) -> bool {
        self.status.is_success()
    }
}

impl IntoResponse for Forwarded {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        if let Some(content_type) = self.headers.get(header::CONTENT_TYPE) {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type.clone());
        }
        response
    }
}

/// A client for one forward target.
#[derive(Clone)]
pub struct Forwarder {
    http: reqwest::Client,
    url: String,
}

impl Forwarder {
    /// A forwarder to `url`; redirects are not followed (hookit does not follow them).
    pub fn new(url: String) -> Result<Forwarder, ForwardError> {
        let http = reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(ForwardError::Client)?;
        Ok(Forwarder { http, url })
    }

    /// The target URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs `body` with `headers` (hop-by-hop ones left out) to the target.
    pub async fn forward(
        &self,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Forwarded, ForwardError> {
        let mut forwarded = headers.clone();
        for name in &HOP_BY_HOP {
            forwarded.remove(name);
        }
        let unreachable = |source| ForwardError::Unreachable {
            url: self.url.clone(),
            source,
        };
        let response = self
            .http
            .post(&self.url)
            .headers(forwarded)
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(unreachable)?;
        Ok(Forwarded {
            status,
            headers,
            body,
        })
    }
}
