//! End-to-end harness: a real `hookit serve` process on a free loopback port with its
//! own data directory, a real webhook receiver in the test process, and a small HTTP
//! client for the operator and ingest APIs.

#![allow(dead_code)]

pub mod partner_client;
pub mod postgres;
pub mod receiver;
pub mod tcp_proxy;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const OPERATOR_TOKEN: &str = "hkop_test_operator_token";
pub const INGEST_TOKEN: &str = "hkin_test_ingest_token";
/// Opens `/metrics` on the API port (set for every server the harness starts).
pub const METRICS_TOKEN: &str = "hkmt_test_metrics_token";

/// A running `hookit serve` child process; killed when dropped.
pub struct Serve {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub log: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

/// Settings a test commonly changes; everything else is the harness default.
pub fn fast_env() -> Vec<(&'static str, String)> {
    vec![
        ("HOOKIT_ALLOW_PRIVATE_TARGETS", "true".into()),
        ("HOOKIT_TICK", "20ms".into()),
        ("HOOKIT_RETRY_SCHEDULE", "50ms,100ms".into()),
        ("HOOKIT_ATTEMPT_TIMEOUT", "2s".into()),
        ("HOOKIT_CLAIM_LEASE", "3s".into()),
    ]
}

impl Serve {
    /// Starts `hookit serve` on `data_dir` with the given extra environment and the
    /// harness's fixed tokens.
    pub fn start(data_dir: &Path, env: &[(&str, String)]) -> Serve {
        Self::start_with(data_dir, env, true)
    }

    /// Starts `hookit serve` letting it generate its own tokens in the data dir.
    pub fn start_without_tokens(data_dir: &Path, env: &[(&str, String)]) -> Serve {
        Self::start_with(data_dir, env, false)
    }

    fn start_with(data_dir: &Path, env: &[(&str, String)], tokens: bool) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookit"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("HOOKIT_DATA_DIR", data_dir)
            .env("HOOKIT_LISTEN", "127.0.0.1:0")
            .env("HOOKIT_METRICS_TOKEN", METRICS_TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if tokens {
            command
                .env("HOOKIT_OPERATOR_TOKEN", OPERATOR_TOKEN)
                .env("HOOKIT_INGEST_TOKEN", INGEST_TOKEN);
        }
        // An empty value unsets the setting (e.g. the harness's metrics token).
        for (name, value) in env {
            if value.is_empty() {
                command.env_remove(name);
            } else {
                command.env(name, value);
            }
        }
        let mut child = command.spawn().expect("spawn hookit serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let address: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = address_tx.send(address);
                }
                lines.lock().expect("log lock").push(line);
            }
        });
        let address = match address_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "hookit serve did not start; log:\n{}",
                    log.lock().expect("log").join("\n")
                );
            }
        };
        Serve {
            child,
            base: format!("http://{address}"),
            data_dir: data_dir.to_owned(),
            log,
            client: reqwest::Client::new(),
        }
    }

    /// The `/metrics` text, read with the metrics token.
    pub async fn metrics_text(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.base))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("metrics");
        assert_eq!(response.status(), 200, "metrics answered");
        response.text().await.expect("metrics text")
    }

    /// The process's stderr so far.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// The process id, e.g. to signal a process other handles still share.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "hookit serve did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn operator(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call(
            method,
            &format!("/v1/operator{path}"),
            Some(OPERATOR_TOKEN),
            body,
        )
        .await
    }

    /// Creates a partner and returns (id, webhook secret, the whole answer).
    pub async fn create_partner(&self, name: &str) -> (String, String, Value) {
        let (status, body) = self
            .operator(
                reqwest::Method::POST,
                "/partners",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let data = body["data"].clone();
        let id = data["id"].as_str().expect("id").to_owned();
        let secret = data["webhook_secret_key"]
            .as_str()
            .expect("webhook secret")
            .to_owned();
        (id, secret, data)
    }

    pub async fn map(
        &self,
        partner: &str,
        brand: i64,
        branch: Option<i64>,
        event: &str,
        url: &str,
    ) -> Value {
        let mut body = json!({ "brand_id": brand, "event_type": event, "url": url });
        if let Some(branch) = branch {
            body["branch_id"] = json!(branch);
        }
        let (status, answer) = self
            .operator(
                reqwest::Method::PUT,
                &format!("/partners/{partner}/mappings"),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["data"].clone()
    }

    pub async fn ingest(&self, event: &str, order: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            "/v1/ingest/orders",
            Some(INGEST_TOKEN),
            Some(json!({ "event": event, "order": order })),
        )
        .await
    }

    /// Pushes a body exactly as given (to check that exact JSON text survives).
    pub async fn ingest_raw(&self, body: String) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/v1/ingest/orders", self.base))
            .bearer_auth(INGEST_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json answer"))
    }

    pub async fn ingest_batch(&self, items: Vec<Value>) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            "/v1/ingest/orders/batch",
            Some(INGEST_TOKEN),
            Some(json!({ "items": items })),
        )
        .await
    }

    pub async fn delivery(&self, event_id: &str) -> Value {
        let (status, body) = self
            .operator(
                reqwest::Method::GET,
                &format!("/deliveries/{event_id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    /// Polls a delivery until `done` holds for it, or fails after `timeout`.
    pub async fn wait_delivery(
        &self,
        event_id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let delivery = self.delivery(event_id).await;
            if done(&delivery) {
                return delivery;
            }
            assert!(
                Instant::now() < deadline,
                "delivery did not reach the expected state: {delivery}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Brands at and above this are the harness's own, for barrier partners.
const BARRIER_BRAND: i64 = 9_000_000;
static BARRIERS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

impl Serve {
    /// A change committed after everything the test did so far, pushed for a partner of
    /// its own to `receiver` at `/barrier-N`, and waited for until delivered. Its
    /// delivery is formed by a batching pass that began after its commit, and a pass
    /// takes every ready change there is: once it is acknowledged, every change
    /// committed before it has been formed into a delivery (or was not routable).
    pub async fn barrier(&self, receiver: &receiver::Receiver) {
        let n = BARRIERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let brand = BARRIER_BRAND + n;
        let path = format!("/barrier-{n}");
        let (partner, _, _) = self.create_partner(&format!("barrier {n}")).await;
        self.map(
            &partner,
            brand,
            None,
            "klikit.order.created.v2",
            &receiver.url(&path),
        )
        .await;
        let (status, answer) = self
            .ingest("klikit.order.created.v2", order(brand, brand, 1, 1))
            .await;
        assert_eq!(status, 202, "{answer}");
        let got = receiver.wait_for(&path, 1, Duration::from_secs(15)).await;
        self.wait_delivery(got[0].event_id(), Duration::from_secs(15), |d| {
            d["state"] == "delivered"
        })
        .await;
    }

    /// Waits until every request the receiver got for `event_id` is a recorded attempt
    /// of that delivery (an attempt in flight has landed and been recorded), and
    /// returns that count.
    pub async fn settled_attempts(&self, receiver: &receiver::Receiver, event_id: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let delivery = self.delivery(event_id).await;
            let recorded = delivery["attempts"].as_array().map_or(0, Vec::len);
            let received = receiver
                .received()
                .iter()
                .filter(|r| r.event_id() == event_id)
                .count();
            if recorded == received {
                return recorded;
            }
            assert!(
                Instant::now() < deadline,
                "{event_id}: {received} requests received but {recorded} attempts recorded"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// When each recorded attempt of a delivery started, in epoch milliseconds (the API
/// answers numbers or RFC 3339 text).
pub fn attempt_starts(delivery: &Value) -> Vec<i64> {
    delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|attempt| epoch_millis(&attempt["started_at"]))
        .collect()
}

/// A time as the API answers it, in epoch milliseconds.
pub fn epoch_millis(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().expect("integer milliseconds"),
        Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339 time")
            .timestamp_millis(),
        other => panic!("not a time: {other}"),
    }
}

/// Now, in epoch milliseconds (the server runs on the same clock).
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An order record as klikit's order platform would push it.
pub fn order(id: i64, brand: i64, branch: i64, status: i64) -> Value {
    json!({
        "id": id,
        "external_id": format!("EXT-{id}"),
        "business_id": 737,
        "brands": [{ "id": brand, "title": "Bali Bites" }],
        "branch_id": branch,
        "status": status,
        "cart": [{ "id": 1, "name": "Nasi Goreng", "quantity": 2, "unit_price": "6.25", "price": "12.50" }],
        "payment": { "status": 1, "method": 14, "channel": 8 },
        "placed_at": "2026-11-28T10:00:00Z",
        "updated_at": format!("2026-11-28T10:{:02}:00Z", status.clamp(0, 59)),
        "currency": "IDR"
    })
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`eventually`], for checks that need to await.
pub async fn eventually_async<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
