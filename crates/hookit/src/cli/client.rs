//! The operator API client: finds the operator token, sends requests with
//! `Authorization: Bearer <token>`, and turns answers into [`Answer`]s (the `data`
//! value, and the body exactly as the server sent it, for `--json`) or errors a person
//! can act on. The token is never printed, not even in errors.

use super::ServerArgs;
use crate::credentials::{BootstrapSecret, Secret};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the operator token came from, so errors can say so without showing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The `HOOKIT_OPERATOR_TOKEN` environment variable.
    Env,
    /// The token file in the data directory.
    File(PathBuf),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env => write!(f, "{}", BootstrapSecret::OperatorToken.env_var()),
            TokenSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why an operator command could not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no operator token: set {env} or run with --data-dir (or HOOKIT_DATA_DIR) pointing at \
         the server's data directory, which holds {path} (not found)",
        env = BootstrapSecret::OperatorToken.env_var(),
        path = path.display()
    )]
    TokenMissing { path: PathBuf },
    #[error("could not read the operator token from {}: {reason}", path.display())]
    TokenUnreadable { path: PathBuf, reason: String },
    #[error("--server {server:?} is not an http:// or https:// URL; {reason}")]
    InvalidServer { server: String, reason: String },
    #[error(
        "the server is not reachable at {server} ({reason}); check --server or HOOKIT_SERVER, \
         and that `hookit serve` is running"
    )]
    Unreachable { server: String, reason: String },
    #[error(
        "the server refused the operator token read from {from}: {message}; use the token \
         in the server's data directory (operator-token) or its HOOKIT_OPERATOR_TOKEN"
    )]
    TokenRefused {
        from: TokenSource,
        message: String,
        /// The answer's body, exactly as the server sent it.
        body: String,
    },
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
        details: Value,
        /// The answer's body, exactly as the server sent it.
        body: String,
    },
    #[error("the server's answer was not what this command expects: {detail}")]
    UnexpectedAnswer { detail: String },
}

impl ClientError {
    /// The server's stable error code, when the server answered with an error.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The body of the server's error answer, exactly as sent, when the server answered
    /// with a JSON error (what `--json` prints).
    pub fn answer_body(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } | ClientError::TokenRefused { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// A successful answer of the operator API.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer's `data`, parsed.
    pub data: Value,
    /// The whole body, exactly as the server sent it: what `--json` prints.
    pub body: String,
}

/// A client of one server's operator API.
pub struct OperatorClient {
    http: reqwest::Client,
    base: Url,
    token: Secret,
    token_source: TokenSource,
}

impl OperatorClient {
    /// Finds the token and checks the server URL; sends nothing yet.
    pub fn connect(args: &ServerArgs) -> Result<Self, ClientError> {
        let base = parse_server(&args.server)?;
        let (token, token_source) = find_token(&args.data_dir)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|err| ClientError::InvalidServer {
                server: args.server.clone(),
                reason: err.to_string(),
            })?;
        Ok(OperatorClient {
            http,
            base,
            token,
            token_source,
        })
    }

    /// `GET /v1/operator/<segments…>?<query>`.
    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Answer, ClientError> {
        self.send(Method::GET, segments, query, None).await
    }

    /// `POST /v1/operator/<segments…>` with an optional JSON body.
    pub async fn post(
        &self,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<Answer, ClientError> {
        self.send(Method::POST, segments, &[], body).await
    }

    /// `PUT /v1/operator/<segments…>` with a JSON body.
    pub async fn put(&self, segments: &[&str], body: Value) -> Result<Answer, ClientError> {
        self.send(Method::PUT, segments, &[], Some(body)).await
    }

    /// `PATCH /v1/operator/<segments…>` with a JSON body.
    pub async fn patch(&self, segments: &[&str], body: Value) -> Result<Answer, ClientError> {
        self.send(Method::PATCH, segments, &[], Some(body)).await
    }

    /// `DELETE /v1/operator/<segments…>`.
    pub async fn delete(&self, segments: &[&str]) -> Result<Answer, ClientError> {
        self.send(Method::DELETE, segments, &[], None).await
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Answer, ClientError> {
        let mut request = self
            .http
            .request(method, self.url(segments))
            .bearer_auth(self.token.expose());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|err| self.unreachable(&err))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| self.unreachable(&err))?;
        let text =
            String::from_utf8(bytes.to_vec()).map_err(|_| ClientError::UnexpectedAnswer {
                detail: format!("HTTP {status} with a body that is not UTF-8"),
            })?;
        self.answer(status, text)
    }

    /// The URL of an operator endpoint; each segment is percent-encoded, so an id can
    /// never change the path.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["v1", "operator"])
                .extend(segments);
        }
        url
    }

    fn unreachable(&self, err: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            server: self.base.as_str().trim_end_matches('/').to_owned(),
            reason: describe(err),
        }
    }

    /// Turns an HTTP answer into its `data` (keeping the body as sent), or the error it
    /// carries.
    fn answer(&self, status: StatusCode, text: String) -> Result<Answer, ClientError> {
        let mut parsed: Value =
            serde_json::from_str(&text).map_err(|_| ClientError::UnexpectedAnswer {
                detail: format!(
                    "HTTP {status} with a body that is not JSON: {}",
                    excerpt(&text)
                ),
            })?;
        if status.is_success() {
            return match parsed.get_mut("data").map(Value::take) {
                Some(data) => Ok(Answer { data, body: text }),
                None => Err(ClientError::UnexpectedAnswer {
                    detail: format!("HTTP {status} without a `data` field"),
                }),
            };
        }
        let error = &parsed["error"];
        let message = error["message"].as_str().unwrap_or("no message").to_owned();
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::TokenRefused {
                from: self.token_source.clone(),
                message,
                body: text,
            });
        }
        Err(ClientError::Api {
            status: status.as_u16(),
            code: error["code"].as_str().unwrap_or("unknown").to_owned(),
            message,
            details: error["details"].clone(),
            body: text,
        })
    }
}

fn parse_server(server: &str) -> Result<Url, ClientError> {
    let invalid = |reason: String| ClientError::InvalidServer {
        server: server.to_owned(),
        reason,
    };
    let url = Url::parse(server).map_err(|err| invalid(err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(invalid("use a URL like http://127.0.0.1:8080".into()));
    }
    Ok(url)
}

/// The token from `HOOKIT_OPERATOR_TOKEN`, else from `<data dir>/operator-token`.
fn find_token(data_dir: &Path) -> Result<(Secret, TokenSource), ClientError> {
    let kind = BootstrapSecret::OperatorToken;
    if let Ok(value) = std::env::var(kind.env_var()) {
        let value = value.trim();
        if !value.is_empty() {
            return Ok((Secret::new(value), TokenSource::Env));
        }
    }
    let path = data_dir.join(kind.file_name());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClientError::TokenMissing { path });
        }
        Err(err) => {
            return Err(ClientError::TokenUnreadable {
                path,
                reason: err.to_string(),
            });
        }
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(ClientError::TokenUnreadable {
            path,
            reason: "the file is empty".into(),
        });
    }
    Ok((Secret::new(token), TokenSource::File(path)))
}

/// The innermost cause of a transport error, e.g. "Connection refused (os error 111)";
/// the caller names the server, so reqwest's URL-bearing text is not needed.
fn describe(err: &reqwest::Error) -> String {
    let mut innermost: Option<&(dyn std::error::Error + 'static)> = None;
    let mut cause = std::error::Error::source(err);
    while let Some(err) = cause {
        innermost = Some(err);
        cause = err.source();
    }
    match innermost {
        Some(cause) => cause.to_string(),
        None if err.is_timeout() => "timed out".into(),
        None => "the request failed".into(),
    }
}

fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(200).collect();
    short.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_under_the_operator_prefix() -> Result<(), ClientError> {
        let client = OperatorClient {
            http: reqwest::Client::new(),
            base: parse_server("http://127.0.0.1:9/")?,
            token: Secret::new("t"),
            token_source: TokenSource::Env,
        };
        let url = client.url(&["partners", "../x y", "mappings"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v1/operator/partners/..%2Fx%20y/mappings"
        );
        Ok(())
    }

    #[test]
    fn a_non_http_server_is_refused() {
        assert!(parse_server("127.0.0.1:8080").is_err());
        assert!(parse_server("ftp://host").is_err());
    }
}
