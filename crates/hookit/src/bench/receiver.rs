//! The partner's side of the bench: an in-process webhook receiver on `127.0.0.1:0`.
//!
//! It does what a careful partner does with every delivery — verifies the signature
//! with [`klikit_webhook::receive`] before reading anything, de-dupes on the event id —
//! and then checks hookit's promises: every order's changes arrive exactly once each
//! and in version order (1, 2, 3, … per order). It records when each order was first
//! seen and when it was acknowledged, so scenarios can compute latencies, and it can
//! be switched "down" (answering 503 without `Retry-After`) to build a backlog.
//!
//! State is lock-free per order (atomics indexed by `order id - first id`) so that a
//! million-order backlog costs a few MiB, not a hash map per order.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// The most problem descriptions kept (counts are always complete).
const MAX_PROBLEMS: usize = 20;

/// What the receiver has seen; shared with the scenario that reads it.
pub struct Tracker {
    epoch: Instant,
    first_order_id: i64,
    /// Highest version acknowledged per order; versions must arrive as 1, 2, 3, …
    versions: Vec<AtomicU32>,
    /// Microseconds since `epoch` (0 = never): first sight and acknowledgement of each
    /// order's first change. Allocated only when a scenario needs latencies.
    first_seen_us: Vec<AtomicU64>,
    acked_us: Vec<AtomicU64>,
    /// Webhook secrets by partner index (the `{partner}` in `/p/{partner}`).
    secrets: RwLock<Vec<Arc<[u8]>>>,
    /// Hashes of acknowledged event ids, for de-duplication.
    events: Mutex<HashSet<u64>>,
    up: AtomicBool,
    pub deliveries: AtomicU64,
    pub order_records: AtomicU64,
    pub duplicates: AtomicU64,
    pub refused: AtomicU64,
    pub bad_signatures: AtomicU64,
    pub bad_requests: AtomicU64,
    pub out_of_order: AtomicU64,
    pub unknown_orders: AtomicU64,
    /// Microseconds since `epoch` of the latest acknowledgement.
    pub last_ack_us: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl Tracker {
    /// A tracker for orders `first_order_id ..first_order_id + orders`.
    pub fn new(epoch: Instant, first_order_id: i64, orders: usize, timing: bool) -> Tracker {
        let timed = if timing { orders } else { 0 };
        // Written, not just reserved, so the memory is resident before a baseline is
        // taken and does not show up later as server growth.
        let versions = (0..orders).map(|_| AtomicU32::new(0)).collect();
        Tracker {
            epoch,
            first_order_id,
            versions,
            first_seen_us: (0..timed).map(|_| AtomicU64::new(0)).collect(),
            acked_us: (0..timed).map(|_| AtomicU64::new(0)).collect(),
            secrets: RwLock::new(Vec::new()),
            events: Mutex::new(HashSet::new()),
            up: AtomicBool::new(true),
            deliveries: AtomicU64::new(0),
            order_records: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            bad_signatures: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            unknown_orders: AtomicU64::new(0),
            last_ack_us: AtomicU64::new(0),
            problems: Mutex::new(Vec::new()),
        }
    }

    /// Microseconds since the bench epoch.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Registers a partner's webhook secret; returns its index for `/p/{index}`.
    pub fn add_secret(&self, secret: &str) -> usize {
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        secrets.push(Arc::from(secret.as_bytes()));
        secrets.len() - 1
    }

    /// Up: verify and acknowledge. Down: answer 503 to everything.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Relaxed);
    }

    /// (first seen, acknowledged) of an order's first change, in µs since the epoch.
    pub fn timing(&self, index: usize) -> Option<(u64, u64)> {
        let seen = self.first_seen_us.get(index)?.load(Relaxed);
        let acked = self.acked_us.get(index)?.load(Relaxed);
        (seen > 0 && acked > 0).then_some((seen, acked))
    }

    /// Orders whose acknowledged version is below `expected`: changes that never
    /// arrived. Returns (orders short, changes missing).
    pub fn missing(&self, expected: u32) -> (u64, u64) {
        self.versions.iter().fold((0, 0), |(orders, changes), v| {
            let got = v.load(Relaxed);
            if got < expected {
                (orders + 1, changes + u64::from(expected - got))
            } else {
                (orders, changes)
            }
        })
    }

    /// Broken promises so far (mis-signed, out of order, unknown orders, bad bodies).
    pub fn violations(&self) -> u64 {
        self.bad_signatures.load(Relaxed)
            + self.out_of_order.load(Relaxed)
            + self.unknown_orders.load(Relaxed)
            + self.bad_requests.load(Relaxed)
    }

    /// The first few problem descriptions.
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn problem(&self, counter: &AtomicU64, text: impl FnOnce() -> String) {
        counter.fetch_add(1, Relaxed);
        let mut problems = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if problems.len() < MAX_PROBLEMS {
            problems.push(text());
        }
    }

    fn accept(&self, partner: usize, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let seen_at = self.now_us();
        if !self.up.load(Relaxed) {
            self.refused.fetch_add(1, Relaxed);
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let secret = {
            let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
            secrets.get(partner).cloned()
        };
        let Some(secret) = secret else {
            self.problem(&self.bad_requests, || {
                format!("delivery to unknown partner path /p/{partner}")
            });
            return StatusCode::NOT_FOUND;
        };
        let event = match klikit_webhook::receive(&secret, headers, body) {
            Ok(event) => event,
            Err(klikit_webhook::Rejection::Signature(err)) => {
                self.problem(&self.bad_signatures, || format!("partner {partner}: {err}"));
                return StatusCode::FORBIDDEN;
            }
            Err(err) => {
                self.problem(&self.bad_requests, || format!("partner {partner}: {err}"));
                return StatusCode::BAD_REQUEST;
            }
        };
        let mut hasher = DefaultHasher::new();
        event.event_id.hash(&mut hasher);
        let fresh = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hasher.finish());
        if !fresh {
            self.duplicates.fetch_add(1, Relaxed);
            return StatusCode::OK;
        }
        let orders = &event.envelope.orders;
        let mut first_changes = Vec::with_capacity(orders.len());
        for order in orders {
            let Some(index) = self.index(order.id) else {
                self.problem(&self.unknown_orders, || {
                    format!("order {} was never ingested by this scenario", order.id)
                });
                continue;
            };
            let version = order.version.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32;
            self.check_sequence(&event.event_id, order.id, index, version);
            if version == 1 {
                if let Some(slot) = self.first_seen_us.get(index) {
                    let _ = slot.compare_exchange(0, seen_at.max(1), Relaxed, Relaxed);
                    first_changes.push(index);
                }
            }
        }
        let acked_at = self.now_us().max(1);
        for index in first_changes {
            if let Some(slot) = self.acked_us.get(index) {
                let _ = slot.compare_exchange(0, acked_at, Relaxed, Relaxed);
            }
        }
        self.deliveries.fetch_add(1, Relaxed);
        self.order_records.fetch_add(orders.len() as u64, Relaxed);
        self.last_ack_us.fetch_max(acked_at, Relaxed);
        StatusCode::OK
    }

    fn index(&self, order_id: i64) -> Option<usize> {
        let offset = usize::try_from(order_id.checked_sub(self.first_order_id)?).ok()?;
        (offset < self.versions.len()).then_some(offset)
    }

    /// Version `v` of an order may follow only version `v - 1`.
    fn check_sequence(&self, event_id: &str, order_id: i64, index: usize, version: u32) {
        let Some(expected_previous) = version.checked_sub(1) else {
            self.problem(&self.out_of_order, || {
                format!("order {order_id} arrived without a version in {event_id}")
            });
            return;
        };
        if let Err(had) =
            self.versions[index].compare_exchange(expected_previous, version, Relaxed, Relaxed)
        {
            self.problem(&self.out_of_order, || {
                format!(
                    "order {order_id}: version {version} arrived in {event_id} after version {had} \
                     (expected {})",
                    had + 1
                )
            });
        }
    }
}

/// The running receiver.
pub struct Receiver {
    pub address: SocketAddr,
    pub tracker: Arc<Tracker>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds `127.0.0.1:0` and starts answering.
    pub async fn start(tracker: Arc<Tracker>) -> std::io::Result<Receiver> {
        let app = Router::new()
            .route("/p/{partner}", post(handle))
            .with_state(Arc::clone(&tracker));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            address,
            tracker,
            task,
        })
    }

    /// The URL that delivers to partner `index`.
    pub fn url(&self, index: usize) -> String {
        format!("http://{}/p/{index}", self.address)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(tracker): State<Arc<Tracker>>,
    Path(partner): Path<usize>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    tracker.accept(partner, &headers, &body)
}
