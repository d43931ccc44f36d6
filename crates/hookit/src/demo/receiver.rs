//! The partner's side: a webhook receiver on loopback that verifies every request
//! with the `klikit-webhook` crate, de-dupes on the event id, checks per-order
//! ordering, and keeps the books the summary is made from.
//!
//! It also makes trouble on purpose, the way real endpoints do:
//! - the first attempt of every 10th new event id fails with a 500 before it is
//!   handled (a hiccup: hookit retries under the same event id);
//! - for every 25th (offset 3) the event is handled but the 200 is "lost" (a 500 is
//!   sent instead), so the retry is a duplicate that de-dupe must ignore;
//! - while [`ReceiverState::branch_down`] is set, the down branch's POS answers 503
//!   with `Retry-After: 1`;
//! - until [`ReceiverState::popup_fixed`] is set, the pop-up's endpoint answers 500;
//! - the first attempt of one event id (from the 5th on) is answered only after
//!   hookit's attempt timeout: a slow handler, which hookit gives up on and retries.
//!
//! It accepts every webhook secret it was told of (the old one stays valid across a
//! rotation), and checks every request a second time with [`super::independent`], the
//! seed's recipe written with `hmac` and `sha2` directly rather than this project's
//! crate. A correctly signed but older version of an order (a replayed dead delivery
//! arriving after newer ones) is dropped by its `version`, as a partner should.

use super::topology::{down_prefix, popup_path};
use crate::credentials::Secret;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use klikit_webhook::{Dedupe, MemoryDedupe, Rejection, SignatureError, WebhookEvent, receive};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The first attempt of every `FLAKY_EVERY`-th new event id fails before handling.
const FLAKY_EVERY: u64 = 10;
/// Every `LOST_ACK_EVERY`-th new event id (offset 3, never a multiple of 10) is
/// handled, then answered 500 as if the acknowledgement was lost.
const LOST_ACK_EVERY: u64 = 25;
/// The slow handler takes the first event id from this position on that meets no
/// other trouble.
const SLOW_FROM_SEQ: u64 = 5;

mod books;
pub use books::{Books, EventSeen, Sample};
use books::{handle_event, record_acks};

/// Shared between the handler and the demo.
pub struct ReceiverState {
    /// Every webhook secret the partner was given, oldest first.
    secrets: Mutex<Vec<Secret>>,
    /// A webhook-secret rotation is under way: a mismatch is answered 503 (retried)
    /// until the new secret is known.
    pub rotating: AtomicBool,
    /// Event ids of dead deliveries the operator replayed.
    pub replayed_dead: Mutex<HashSet<String>>,
    /// How long the slow handler holds its answer.
    slow_for: Duration,
    dedupe: MemoryDedupe,
    books: Mutex<Books>,
    /// The down branch's POS is offline (503 + `Retry-After: 1`).
    pub branch_down: AtomicBool,
    /// The pop-up's endpoint has been fixed.
    pub popup_fixed: AtomicBool,
}

impl ReceiverState {
    /// The books; only integers and maps live behind the lock, held briefly.
    pub fn books(&self) -> MutexGuard<'_, Books> {
        self.books
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The secrets the receiver accepts, oldest first.
    pub fn secrets(&self) -> Vec<Secret> {
        self.secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Accepts `secret` too, from now on (a rotated webhook secret).
    pub fn add_secret(&self, secret: Secret) {
        self.secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(secret);
    }

    /// Marks a dead delivery as replayed by the operator.
    pub fn note_replayed_dead(&self, event_id: &str) {
        self.replayed_dead
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(event_id.to_owned());
    }

    fn was_replayed_dead(&self, event_id: &str) -> bool {
        self.replayed_dead
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(event_id)
    }
}

/// A running receiver.
pub struct Receiver {
    pub base: String,
    pub state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on 127.0.0.1 (a free port), verifying with `webhook_secret_key`; the
    /// slow handler holds its answer for `slow_for`.
    pub async fn start(
        webhook_secret_key: Secret,
        slow_for: Duration,
    ) -> Result<Receiver, super::DemoError> {
        let state = Arc::new(ReceiverState {
            secrets: Mutex::new(vec![webhook_secret_key]),
            rotating: AtomicBool::new(false),
            replayed_dead: Mutex::new(HashSet::new()),
            slow_for,
            dedupe: MemoryDedupe::new(1_000_000, Duration::from_secs(3600)),
            books: Mutex::new(Books::default()),
            branch_down: AtomicBool::new(false),
            popup_fixed: AtomicBool::new(false),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|err| format!("the demo receiver cannot listen on 127.0.0.1: {err}"))?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { base, state, task })
    }

    /// Stops listening.
    pub fn stop(self) {
        self.task.abort();
    }
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

async fn handle(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match respond(&state, uri.path(), &headers, &body) {
        Reply::Now(response) => response,
        Reply::Late => {
            // Past hookit's attempt timeout: hookit has given up on this attempt by now.
            tokio::time::sleep(state.slow_for).await;
            answer(StatusCode::OK, "too late")
        }
    }
}

/// The receiver's answer: now, or (the slow handler) only after hookit's timeout.
enum Reply {
    Now(Response),
    Late,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply::Now(response)
    }
}

fn respond(state: &ReceiverState, path: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let now = Instant::now();
    let secrets = state.secrets();
    let (received, secret_index) = verify(&secrets, headers, body);
    let independent = super::independent::verify_any(&secrets, headers, body);
    let mut books = state.books();
    books.requests += 1;
    let race = matches!(
        received,
        Err(Rejection::Signature(SignatureError::Mismatch))
    ) && state.rotating.load(Ordering::SeqCst);
    match (independent, race) {
        (true, _) => books.independent_ok += 1,
        (false, false) => books.independent_refused += 1,
        // Signed with a secret neither verifier knows yet: counted as the race.
        (false, true) => {}
    }
    let event = match received {
        Ok(event) => {
            books.verified += 1;
            if books.verified_with.len() < secrets.len() {
                books.verified_with.resize(secrets.len(), 0);
            }
            books.verified_with[secret_index] += 1;
            event
        }
        Err(_) if race => {
            books.rotation_races += 1;
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook secret being rotated",
            )
            .into();
        }
        Err(rejection) => {
            if matches!(rejection, Rejection::Signature(_)) {
                books.signature_failures += 1;
            } else {
                books.other_rejections += 1;
            }
            let status =
                StatusCode::from_u16(rejection.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, rejection.to_json_string()).into_response().into();
        }
    };
    let next_seq = books.events.len() as u64 + 1;
    let seen = books
        .events
        .entry(event.event_id.clone())
        .or_insert_with(|| EventSeen {
            seq: next_seq,
            ..EventSeen::default()
        });
    seen.attempts += 1;
    let (seq, first_attempt) = (seen.seq, seen.attempts == 1);
    if path.starts_with(&down_prefix()) && state.branch_down.load(Ordering::Relaxed) {
        books.outage_refusals += 1;
        let mut response = answer(StatusCode::SERVICE_UNAVAILABLE, "POS offline");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response.into();
    }
    if path == popup_path() && !state.popup_fixed.load(Ordering::Relaxed) {
        books.popup_failures += 1;
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "pop-up POS not configured",
        )
        .into();
    }
    if first_attempt && seq % FLAKY_EVERY == 0 {
        books.flaky_failures += 1;
        return answer(StatusCode::INTERNAL_SERVER_ERROR, "temporary failure").into();
    }
    let lost_ack = first_attempt && seq % LOST_ACK_EVERY == 3;
    if first_attempt && !lost_ack && seq >= SLOW_FROM_SEQ && books.slow_event.is_none() {
        books.slow_event = Some(event.event_id.clone());
        return Reply::Late;
    }
    if books.sample.is_none() && event.event_type_name() == "klikit.order.created.v2" {
        books.sample = Some(sample(path, headers, body));
    }
    let replayed_dead = state.was_replayed_dead(&event.event_id);
    let response = match state.dedupe.already_handled(&event.event_id) {
        Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "de-dupe store failed"),
        Ok(true) => {
            books.duplicates += 1;
            record_acks(&mut books, &event, now, first_attempt);
            answer(StatusCode::OK, "duplicate ignored")
        }
        Ok(false) => {
            handle_event(&mut books, &event, replayed_dead);
            if state.dedupe.record_handled(&event.event_id).is_err() {
                return answer(StatusCode::SERVICE_UNAVAILABLE, "de-dupe store failed").into();
            }
            if lost_ack {
                books.lost_acks += 1;
                return answer(StatusCode::INTERNAL_SERVER_ERROR, "ack lost").into();
            }
            record_acks(&mut books, &event, now, first_attempt);
            answer(StatusCode::OK, "ok")
        }
    };
    response.into()
}

/// Verifies with each known secret, newest first; the index of the one that matched.
fn verify(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
) -> (Result<WebhookEvent, Rejection>, usize) {
    let mut last = Err(Rejection::Signature(SignatureError::Missing));
    for (index, secret) in secrets.iter().enumerate().rev() {
        last = receive(secret.expose().as_bytes(), headers, body);
        if !matches!(last, Err(Rejection::Signature(SignatureError::Mismatch))) {
            return (last, index);
        }
    }
    (last, 0)
}

/// The headers klikit defines, then the informational ones, as sent.
fn sample(path: &str, headers: &HeaderMap, body: &[u8]) -> Sample {
    let names = [
        "content-type",
        klikit_webhook::header::SIGNATURE,
        klikit_webhook::header::EVENT_ID,
        klikit_webhook::header::EVENT_TYPE,
        klikit_webhook::header::DELIVERY_ATTEMPT,
        "user-agent",
    ];
    let headers = names
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    Sample {
        path: path.to_owned(),
        headers,
        body: body.to_vec(),
    }
}
