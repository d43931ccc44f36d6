//! The demo's HTTP client: it talks to hookit only through the operator, ingest and
//! partner APIs, exactly as an operator, klikit's order platform and a partner's POS
//! would.

use crate::credentials::Secret;
use base64::Engine;
use serde_json::Value;
use std::error::Error;

/// Any failure of the demo, said so a person can act on it.
pub type DemoError = Box<dyn Error + Send + Sync>;

/// A partner's credentials as issued once at onboarding.
#[derive(Debug, Clone)]
pub struct PartnerKeys {
    pub id: String,
    pub partner_key: String,
    pub secret_key: Secret,
    pub webhook_secret_key: Secret,
}

/// A client for one running server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    operator_token: Secret,
    ingest_token: Secret,
    metrics_token: Secret,
}

impl Client {
    pub fn new(
        base: String,
        operator_token: Secret,
        ingest_token: Secret,
        metrics_token: Secret,
    ) -> Result<Client, DemoError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        Ok(Client {
            http,
            base,
            operator_token,
            ingest_token,
            metrics_token,
        })
    }

    /// Sends a request and returns the JSON answer of a 2xx, or an error naming the
    /// request and showing the answer.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(u16, Value), DemoError> {
        let response = request
            .send()
            .await
            .map_err(|err| format!("{what}: no answer from hookit: {err}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| format!("{what}: the answer broke off: {err}"))?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&bytes);
            return Err(format!("{what} answered {status}: {text}").into());
        }
        let json = serde_json::from_slice(&bytes)
            .map_err(|err| format!("{what}: the answer is not JSON: {err}"))?;
        Ok((status, json))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn json_body(request: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
        request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }

    /// An operator API call; returns the answer's `data`.
    pub async fn operator(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, DemoError> {
        let what = format!("{method} {path}");
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.operator_token.expose());
        if let Some(body) = body {
            request = Self::json_body(request, body);
        }
        let (_, mut answer) = self.send(request, &what).await?;
        Ok(answer["data"].take())
    }

    /// An ingest push (`/v1/ingest/orders` or `/v1/ingest/orders/batch`) under an
    /// idempotency key; returns the answer's `data`.
    pub async fn ingest(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<Value, DemoError> {
        let request = self
            .http
            .post(self.url(path))
            .bearer_auth(self.ingest_token.expose())
            .header("idempotency-key", idempotency_key);
        let (_, mut answer) = self
            .send(Self::json_body(request, body), &format!("POST {path}"))
            .await?;
        Ok(answer["data"].take())
    }

    /// `PATCH /v1/partner/orders/{id}/status` as the partner; returns the new record.
    pub async fn partner_status(
        &self,
        keys: &PartnerKeys,
        order_id: i64,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<Value, DemoError> {
        let path = format!("/v1/partner/orders/{order_id}/status");
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            keys.partner_key,
            keys.secret_key.expose()
        ));
        let request = self
            .http
            .patch(self.url(&path))
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .header("idempotency-key", idempotency_key);
        let (_, mut answer) = self
            .send(Self::json_body(request, body), &format!("PATCH {path}"))
            .await?;
        Ok(answer["data"].take())
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> Result<String, DemoError> {
        let response = self
            .http
            .get(self.url("/metrics"))
            .bearer_auth(self.metrics_token.expose())
            .send()
            .await
            .map_err(|err| format!("GET /metrics: no answer from hookit: {err}"))?;
        if !response.status().is_success() {
            return Err(format!("GET /metrics: hookit answered {}", response.status()).into());
        }
        response
            .text()
            .await
            .map_err(|err| format!("GET /metrics: the answer broke off: {err}").into())
    }

    /// One page of `GET /v1/operator/deliveries` with the given query.
    pub async fn deliveries(&self, query: &str) -> Result<Value, DemoError> {
        let path = format!("/v1/operator/deliveries?{query}");
        self.operator(reqwest::Method::GET, &path, None).await
    }

    /// Every delivery, following the cursor.
    pub async fn all_deliveries(&self) -> Result<Vec<Value>, DemoError> {
        let mut all = Vec::new();
        let mut query = "limit=1000".to_owned();
        loop {
            let mut page = self.deliveries(&query).await?;
            if let Value::Array(deliveries) = page["deliveries"].take() {
                all.extend(deliveries);
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("limit=1000&cursor={cursor}"),
                None => return Ok(all),
            }
        }
    }

    /// Whether no delivery is pending.
    pub async fn nothing_pending(&self) -> Result<bool, DemoError> {
        let page = self.deliveries("state=pending&limit=1").await?;
        Ok(page["deliveries"].as_array().is_none_or(Vec::is_empty))
    }

    /// Whether hookit recorded an attempt of the delivery as timed out.
    pub async fn attempt_timed_out(&self, event_id: &str) -> Result<bool, DemoError> {
        let path = format!("/v1/operator/deliveries/{event_id}");
        let delivery = self.operator(reqwest::Method::GET, &path, None).await?;
        Ok(delivery["attempts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|attempt| attempt["error_kind"] == "timeout"))
    }

    /// `POST /v1/operator/deliveries/{event_id}/replay` (empty body).
    pub async fn replay(&self, event_id: &str) -> Result<Value, DemoError> {
        let path = format!("/v1/operator/deliveries/{event_id}/replay");
        self.operator(reqwest::Method::POST, &path, None).await
    }
}

/// The sum of a Prometheus counter over every label set matching `filter`.
pub fn metric_sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let matches = (series == name || series.starts_with(&format!("{name}{{")))
                && series.contains(filter);
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}
