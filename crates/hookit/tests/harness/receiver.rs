//! A real webhook receiver on a free loopback port that records every request and
//! answers as the test tells it to, per path.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers on one path.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// 200.
    Ok,
    /// 500 to every request.
    FailAll,
    /// 500 to the first `n` requests of each event id, then 200.
    FailFirst(usize),
    /// Never answers (until the client gives up).
    Hang,
    /// This status to every request.
    Status(u16),
    /// Never answers the first `n` requests of each event id, then 200.
    HangFirst(usize),
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn event_id(&self) -> &str {
        self.header("x-klikit-event-id")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    pub fn order_ids(&self) -> Vec<i64> {
        self.json()["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["id"].as_i64().expect("order id"))
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    behaviours: HashMap<String, Behaviour>,
    seen: HashMap<String, usize>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

/// The running receiver.
pub struct Receiver {
    pub base: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Shared::default();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn set(&self, path: &str, behaviour: Behaviour) {
        self.shared
            .0
            .lock()
            .expect("lock")
            .behaviours
            .insert(path.to_owned(), behaviour);
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.0.lock().expect("lock").received.clone()
    }

    /// Requests on one path.
    pub fn on(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits until at least `count` requests arrived on `path`.
    pub async fn wait_for(&self, path: &str, count: usize, timeout: Duration) -> Vec<Received> {
        super::eventually(timeout, &format!("{count} requests on {path}"), || {
            let got = self.on(path);
            (got.len() >= count).then_some(got)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_owned();
    let event_id = headers
        .get("x-klikit-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let behaviour = {
        let mut inner = shared.0.lock().expect("lock");
        let seen = inner.seen.entry(event_id).or_default();
        *seen += 1;
        let seen = *seen;
        let behaviour = inner
            .behaviours
            .get(&path)
            .cloned()
            .unwrap_or(Behaviour::Ok);
        let answered = match &behaviour {
            Behaviour::Ok => 200,
            Behaviour::FailAll => 500,
            Behaviour::FailFirst(n) if seen <= *n => 500,
            Behaviour::FailFirst(_) => 200,
            Behaviour::Hang => 0,
            Behaviour::Status(code) => *code,
            Behaviour::HangFirst(n) if seen <= *n => 0,
            Behaviour::HangFirst(_) => 200,
        };
        inner.received.push(Received {
            path,
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
            at: Instant::now(),
            answered,
        });
        answered
    };
    if behaviour == 0 {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    StatusCode::from_u16(behaviour).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
