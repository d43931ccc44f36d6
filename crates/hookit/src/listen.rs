//! `hookit listen`: a local webhook receiver for partners.
//!
//! It does what a partner's endpoint should do, visibly: verify the signature first
//! (403 with the reason; for a mismatch, whether the body looks re-serialised or the
//! secret wrong), parse the envelope (400 if a signed body is not one), de-dupe on the
//! event id (a repeat answers 200 `duplicate-ignored`), and print one line per
//! delivery on stdout — first sightings, retries and duplicates, each with its event
//! id and attempt (`--json`: one NDJSON object). `--fail-first N` answers 500 to the
//! first N deliveries of each event id so the sender's retries can be watched;
//! `--delay` makes the handler slow; `--forward-to URL` hands every verified delivery,
//! unchanged, to the partner's own application and answers with its status.
//! Start-up notes, warnings and rejections go to stderr; the secret is never printed.

mod diagnosis;
mod forward;
mod handler;
mod report;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use klikit_webhook::axum::WebhookSecretKey;
use klikit_webhook::{Dedupe, DedupeError, MemoryDedupe, SqliteDedupe};

use handler::ListenState;

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

    /// Print one JSON object per delivery (NDJSON) instead of one line of text.
    #[arg(long)]
    pub json: bool,

    /// Answer 500 to the first N deliveries of each event id, to watch retries.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fail_first: u32,

    /// Take this long before answering each verified delivery, to see what a slow
    /// handler does to the sender (hookit gives up on an attempt after 10 s by
    /// default). E.g. `12s`, `250ms`.
    #[arg(long, value_name = "DURATION", value_parser = parse_delay)]
    pub delay: Option<Duration>,

    /// Forward each verified delivery, headers and raw body unchanged, to your own
    /// application at this URL, and answer with its status (e.g.
    /// http://127.0.0.1:3000/klikit/webhooks).
    #[arg(long, value_name = "URL", value_parser = parse_forward_url)]
    pub forward_to: Option<String>,
}

fn parse_delay(text: &str) -> Result<Duration, String> {
    crate::config::parse_duration(text).map_err(|err| err.to_string())
}

fn parse_forward_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|err| {
        format!("{text:?} is not a URL ({err}); expected e.g. http://127.0.0.1:3000/webhooks")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{text:?} is not an http:// or https:// URL; expected e.g. \
             http://127.0.0.1:3000/webhooks"
        ));
    }
    Ok(url.to_string())
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
    /// The forwarding client could not be set up.
    #[error(transparent)]
    Forward(#[from] forward::ForwardError),
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
    if let Some(delay) = args.delay {
        eprintln!(
            "hookit listen: --delay {}: each verified delivery is answered that much later",
            crate::config::format_duration(delay)
        );
    }
    let forwarder = args.forward_to.map(forward::Forwarder::new).transpose()?;
    if let Some(forwarder) = &forwarder {
        eprintln!(
            "hookit listen: forwarding each verified delivery to {}; its status is the answer",
            forwarder.url()
        );
    }
    let state = ListenState {
        secret: WebhookSecretKey::any_of(secrets),
        dedupe,
        fail_first: args.fail_first,
        failures: Arc::default(),
        json: args.json,
        delay: args.delay,
        forwarder,
    };
    let app = Router::new()
        .route("/", post(handler::deliver))
        .route("/{*path}", post(handler::deliver))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_not_debug_printed() {
        let printed = format!("{:?}", SecretArg("whsk_live_secret".to_owned()));
        assert!(!printed.contains("whsk_live_secret"));
    }

    #[test]
    fn forward_urls_must_be_http() {
        assert!(parse_forward_url("http://127.0.0.1:3000/hooks").is_ok());
        let err = parse_forward_url("ftp://127.0.0.1/").expect_err("not http");
        assert!(err.contains("http://"), "{err}");
        assert!(parse_forward_url("127.0.0.1:3000").is_err());
    }
}
