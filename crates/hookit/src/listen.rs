//! `hookit listen`: a local webhook receiver for partners.
//!
//! It does what a partner's endpoint should do, visibly: verify the signature first
//! (403 with the reason), parse the envelope (400 if a signed body is not one),
//! de-dupe on the event id (a repeat answers 200 `duplicate-ignored` and is not
//! printed), and print one line per new event on stdout (`--json`: one NDJSON object).
//! `--fail-first N` answers 500 to the first N deliveries of each event id so the
//! sender's retries can be watched. Start-up notes, warnings and rejections go to
//! stderr; the secret is never printed.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use klikit_webhook::axum::{VerifiedEvent, VerifiedEventRejection, WebhookSecretKey};
use klikit_webhook::{Dedupe, Envelope, MemoryDedupe, Order, OrderStatus, SqliteDedupe};
use klikit_webhook::{DedupeError, WebhookEvent};
use serde::Serialize;

/// How many event ids the in-memory de-dupe remembers, and for how long.
const MEMORY_DEDUPE_CAPACITY: usize = 100_000;
const DEDUPE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Arguments of `hookit listen`.
#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,

    /// The partner's webhook_secret_key, exactly as issued. Around a rotation give both
    /// the new and the previous one (repeat --secret, or separate them with commas in
    /// KLIKIT_WEBHOOK_SECRET): a delivery signed with either is accepted. Prefer the
    /// environment variable: a value on the command line is visible to other users of
    /// the machine.
    #[arg(
        long,
        value_name = "SECRET",
        env = "KLIKIT_WEBHOOK_SECRET",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub secret: Vec<SecretArg>,

    /// Record seen event ids in this SQLite file so that de-dupe survives restarts
    /// (default: in memory, so duplicates return after a restart).
    #[arg(long, value_name = "PATH")]
    pub dedupe_db: Option<PathBuf>,

    /// Print one JSON object per event (NDJSON) instead of one line of text.
    #[arg(long)]
    pub json: bool,

    /// Answer 500 to the first N deliveries of each event id, to watch retries.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fail_first: u32,
}

/// A secret given on the command line or in the environment; `Debug` never shows it.
#[derive(Clone)]
pub struct SecretArg(String);

impl FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Ok(SecretArg(secret.to_owned()))
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg(<redacted>)")
    }
}

/// Why `hookit listen` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// No secret (or an empty one) was given.
    #[error(
        "no webhook secret: set KLIKIT_WEBHOOK_SECRET (or pass --secret) to the partner's \
         webhook_secret_key, as issued by your klikit operator"
    )]
    MissingSecret,
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another process using it? try --listen 127.0.0.1:0)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The de-dupe database could not be opened.
    #[error("cannot open the de-dupe database {path}: {source}")]
    DedupeDb {
        /// Its path.
        path: PathBuf,
        /// What failed.
        source: DedupeError,
    },
    /// The de-dupe database could not be made owner-only.
    #[error("cannot make the de-dupe database {path} owner-only (chmod 600 it): {source}")]
    DedupeDbPermissions {
        /// Its path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("the receiver stopped: {0}")]
    Serve(std::io::Error),
    /// A background task failed.
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs the receiver until Ctrl-C or SIGTERM.
pub async fn run(args: ListenArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    serve(args).await.map_err(Into::into)
}

async fn serve(args: ListenArgs) -> Result<(), ListenError> {
    let secrets: Vec<String> = args
        .secret
        .into_iter()
        .map(|SecretArg(secret)| secret)
        .filter(|secret| !secret.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(ListenError::MissingSecret);
    }
    for (index, secret) in secrets.iter().enumerate() {
        if secret.trim() != secret {
            eprintln!(
                "hookit listen: WARNING: webhook secret {n} of {count} starts or ends with \
                 whitespace (a stray trailing newline?). It is used exactly as given; if \
                 klikit's secret has no such whitespace, its signatures will fail to verify.",
                n = index + 1,
                count = secrets.len()
            );
        }
    }
    if secrets.len() > 1 {
        eprintln!(
            "hookit listen: accepting deliveries signed with any of {} webhook secrets",
            secrets.len()
        );
    }
    let (dedupe, dedupe_note) = open_dedupe(args.dedupe_db).await?;
    let bind_error = |source| ListenError::Bind {
        addr: args.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    eprintln!(
        "hookit listen: listening on http://{addr} (POST to any path); de-dupe: {dedupe_note}"
    );
    if args.fail_first > 0 {
        eprintln!(
            "hookit listen: --fail-first {n}: answering 500 to the first {n} deliveries of each event id",
            n = args.fail_first
        );
    }
    let state = ListenState {
        secret: WebhookSecretKey::any_of(secrets),
        dedupe,
        fail_first: args.fail_first,
        failures: Arc::default(),
        json: args.json,
    };
    let app = Router::new()
        .route("/", post(deliver))
        .route("/{*path}", post(deliver))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(ListenError::Serve)?;
    eprintln!("hookit listen: stopped");
    Ok(())
}

async fn open_dedupe(path: Option<PathBuf>) -> Result<(Arc<dyn Dedupe>, String), ListenError> {
    let Some(path) = path else {
        let memory = MemoryDedupe::new(MEMORY_DEDUPE_CAPACITY, DEDUPE_RETENTION);
        let note = "in-memory (duplicates return after restart; --dedupe-db PATH persists it)";
        return Ok((Arc::new(memory), note.to_owned()));
    };
    let note = format!("persistent, SQLite at {}", path.display());
    let opened = tokio::task::spawn_blocking(move || {
        let open = || {
            let dedupe = SqliteDedupe::open(&path)?;
            dedupe.prune_older_than(DEDUPE_RETENTION)?;
            Ok(dedupe)
        };
        let dedupe = open().map_err(|source| ListenError::DedupeDb {
            path: path.clone(),
            source,
        })?;
        let tightened = crate::private_files::tighten_database(&path).map_err(|source| {
            ListenError::DedupeDbPermissions {
                path: path.clone(),
                source,
            }
        })?;
        for file in tightened {
            eprintln!(
                "hookit listen: made {} owner-only (0600); it was readable by others",
                file.display()
            );
        }
        Ok::<_, ListenError>(dedupe)
    })
    .await??;
    Ok((Arc::new(opened), note))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    eprintln!("hookit listen: shutting down");
}

#[derive(Clone)]
struct ListenState {
    secret: WebhookSecretKey,
    dedupe: Arc<dyn Dedupe>,
    fail_first: u32,
    /// Deliveries answered 500 so far, per event id (for `--fail-first`).
    failures: Arc<tokio::sync::Mutex<HashMap<String, u32>>>,
    json: bool,
}

impl FromRef<ListenState> for WebhookSecretKey {
    fn from_ref(state: &ListenState) -> Self {
        state.secret.clone()
    }
}

impl ListenState {
    /// Counts a delivery of `event_id` against `--fail-first`; `Some(n)` means answer
    /// 500 as the n-th failure.
    async fn take_planned_failure(&self, event_id: &str) -> Option<u32> {
        if self.fail_first == 0 {
            return None;
        }
        let mut failures = self.failures.lock().await;
        let count = failures.entry(event_id.to_owned()).or_insert(0);
        (*count < self.fail_first).then(|| {
            *count += 1;
            *count
        })
    }
}

fn status_response(status: &str) -> Response {
    Json(serde_json::json!({ "status": status })).into_response()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

async fn deliver(
    State(state): State<ListenState>,
    verified: Result<VerifiedEvent, VerifiedEventRejection>,
) -> Response {
    let event = match verified {
        Ok(VerifiedEvent(event)) => event,
        Err(rejection) => {
            eprintln!(
                "hookit listen: rejected ({} {}): {rejection}",
                rejection.status().as_u16(),
                rejection.code()
            );
            return rejection.into_response();
        }
    };
    if let Some(nth) = state.take_planned_failure(&event.event_id).await {
        eprintln!(
            "hookit listen: answered 500 to {} (--fail-first: failure {nth} of {})",
            event.event_id, state.fail_first
        );
        let message = format!(
            "planned failure {nth} of {} for this event id (--fail-first)",
            state.fail_first
        );
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "fail_first", &message);
    }
    let dedupe = Arc::clone(&state.dedupe);
    let event_id = event.event_id.clone();
    let handled = tokio::task::spawn_blocking(move || dedupe.already_handled(&event_id)).await;
    match flatten(handled) {
        Ok(true) => return status_response("duplicate-ignored"),
        Ok(false) => {}
        Err(err) => return dedupe_failed(&event.event_id, &err),
    }
    print_event(&event, state.json);
    // Recorded only now that the event was handled (printed).
    let dedupe = Arc::clone(&state.dedupe);
    let event_id = event.event_id.clone();
    let recorded = tokio::task::spawn_blocking(move || dedupe.record_handled(&event_id)).await;
    match flatten(recorded) {
        Ok(()) => status_response("ok"),
        Err(err) => dedupe_failed(&event.event_id, &err),
    }
}

fn flatten<T>(joined: Result<Result<T, DedupeError>, tokio::task::JoinError>) -> Result<T, String> {
    joined
        .map_err(|err| err.to_string())
        .and_then(|result| result.map_err(|err| err.to_string()))
}

fn dedupe_failed(event_id: &str, err: &str) -> Response {
    eprintln!("hookit listen: de-dupe failed for {event_id}: {err}");
    let message = format!("de-dupe store failed, retry later: {err}");
    error_response(StatusCode::SERVICE_UNAVAILABLE, "dedupe_failed", &message)
}

fn status_label(order: &Order) -> String {
    match order.status {
        Some(OrderStatus::Unknown(code)) => format!("UNKNOWN({code})"),
        Some(status) => status.name().to_owned(),
        None => "NO_STATUS".to_owned(),
    }
}

/// One event as printed by `--json`.
#[derive(Serialize)]
struct EventRecord<'a> {
    received_at: String,
    event_type: &'a str,
    event_type_known: bool,
    event_id: &'a str,
    attempt: Option<u32>,
    brand_id: i64,
    branch_id: i64,
    orders: Vec<OrderSummary>,
    envelope: &'a Envelope,
}

#[derive(Serialize)]
struct OrderSummary {
    id: i64,
    status: Option<i64>,
    status_name: String,
}

fn event_line(event: &WebhookEvent, received_at: &str) -> String {
    let orders: Vec<String> = event
        .envelope
        .orders
        .iter()
        .map(|order| format!("{} {}", order.id, status_label(order)))
        .collect();
    let mut line = format!(
        "{received_at} {} {} brand={} branch={} orders=[{}]",
        event.event_type_name(),
        event.event_id,
        event.envelope.brand_id,
        event.envelope.branch_id,
        orders.join(", ")
    );
    if let Some(attempt) = event.attempt {
        line.push_str(&format!(" attempt={attempt}"));
    }
    line
}

fn event_json(event: &WebhookEvent, received_at: &str) -> String {
    let record = EventRecord {
        received_at: received_at.to_owned(),
        event_type: event.event_type_name(),
        event_type_known: event.event_type.is_ok(),
        event_id: &event.event_id,
        attempt: event.attempt,
        brand_id: event.envelope.brand_id,
        branch_id: event.envelope.branch_id,
        orders: event
            .envelope
            .orders
            .iter()
            .map(|order| OrderSummary {
                id: order.id,
                status: order.status.map(OrderStatus::code),
                status_name: status_label(order),
            })
            .collect(),
        envelope: &event.envelope,
    };
    serde_json::to_string(&record).unwrap_or_else(|err| {
        serde_json::json!({"event_id": event.event_id, "error": err.to_string()}).to_string()
    })
}

fn print_event(event: &WebhookEvent, json: bool) {
    let received_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let line = if json {
        event_json(event, &received_at)
    } else {
        event_line(event, &received_at)
    };
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not fail the delivery: it was handled.
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: &str) -> WebhookEvent {
        WebhookEvent {
            event_type: "klikit.order.status.updated".parse(),
            event_id: "evt_01".to_owned(),
            attempt: None,
            envelope: Envelope::from_json_bytes(body.as_bytes()).expect("valid envelope"),
        }
    }

    #[test]
    fn text_line_names_each_order_status() {
        let event = event(
            r#"{"brand_id":663,"branch_id":1062,"orders":[{"id":7585307,"status":2},{"id":8,"status":42},{"id":9}]}"#,
        );
        assert_eq!(
            event_line(&event, "2026-11-28T15:04:05Z"),
            "2026-11-28T15:04:05Z klikit.order.status.updated evt_01 brand=663 branch=1062 \
             orders=[7585307 ACCEPTED, 8 UNKNOWN(42), 9 NO_STATUS]"
        );
    }

    #[test]
    fn json_line_keeps_money_exact() {
        let event = event(r#"{"brand_id":1,"branch_id":2,"orders":[{"id":3,"total":12.50}]}"#);
        let line = event_json(&event, "2026-11-28T15:04:05Z");
        assert!(line.contains(r#""total":12.50"#), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(value["orders"][0]["status_name"], "NO_STATUS");
    }

    #[test]
    fn secret_is_not_debug_printed() {
        let printed = format!("{:?}", SecretArg("whsk_live_secret".to_owned()));
        assert!(!printed.contains("whsk_live_secret"));
    }
}
