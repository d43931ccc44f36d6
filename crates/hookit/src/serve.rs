//! `hookit serve`: the APIs and the dispatcher in one process.
//!
//! Start-up order matters: configuration is validated first (nothing is touched when it
//! is wrong), then the bootstrap secrets are loaded or created, then the store is
//! opened and migrated, and only then does the process listen. Shutdown runs the other
//! way: stop accepting requests, stop claiming deliveries, let in-flight attempts
//! finish, record them, exit — bounded by the attempt timeout (plus a second for the
//! recording), whatever hangs.

use crate::api::throttle::AuthThrottle;
use crate::api::{self, AppState};
use crate::config::{ServeArgs, ServeConfig};
use crate::credentials::{BootstrapSecret, MasterKey, SecretSource, load_or_create};
use crate::dispatcher::{Dispatcher, DispatcherSettings};
use crate::metrics::Metrics;
use crate::private_files;
use crate::pruner::Pruner;
use crate::store::BatchLimits;
use std::sync::Arc;

pub mod backend;
pub mod scratch;

/// An error that stops `hookit serve` from starting, said so a person can fix it.
pub type ServeError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `hookit serve` until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let config = ServeConfig::load(&args)?;
    let stop = shutdown_signal();
    let server = Server::start(config).await?;
    stop.await;
    tracing::info!("shutting down: no new requests or claims; finishing in-flight attempts");
    server.stop().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// A started server: its address and the handles needed to stop it.
pub struct Server {
    pub address: std::net::SocketAddr,
    http: tokio::task::JoinHandle<()>,
    stop_http: tokio::sync::watch::Sender<bool>,
    dispatcher: Dispatcher,
    /// The background pruner; it stops with the HTTP listener.
    pruning: tokio::task::JoinHandle<()>,
    attempt_timeout: std::time::Duration,
}

impl Server {
    /// Loads secrets, opens the store, starts the dispatcher and begins listening.
    pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
        private_files::tighten(&config.data_dir, 0o700).map_err(|err| {
            format!(
                "cannot make the data directory {} owner-only (HOOKIT_DATA_DIR): {err}",
                config.data_dir.display()
            )
        })?;
        let operator_token = bootstrap(
            &config,
            config.operator_token.clone(),
            BootstrapSecret::OperatorToken,
        )?;
        let ingest_token = bootstrap(
            &config,
            config.ingest_token.clone(),
            BootstrapSecret::IngestToken,
        )?;
        let master_text = bootstrap(
            &config,
            config.master_key.clone(),
            BootstrapSecret::MasterKey,
        )?;
        let master_key = Arc::new(MasterKey::from_text(master_text.expose())?);
        let store =
            backend::open(&config.database, &config.database_connection, &master_key).await?;
        let metrics = Arc::new(Metrics::default());
        let dispatcher = Dispatcher::start(
            Arc::clone(&store),
            Arc::clone(&master_key),
            Arc::clone(&metrics),
            DispatcherSettings {
                tick: config.tick,
                batch: BatchLimits {
                    max_orders: config.max_batch_orders,
                    max_bytes: config.max_batch_bytes,
                },
                attempt_timeout: config.attempt_timeout,
                claim_lease: config.claim_lease,
                retry_schedule: config.retry_schedule.clone(),
                workers: config.workers,
                per_host_concurrency: config.per_url_concurrency,
                slow_host_share: config.slow_host_share,
                allow_private_targets: config.allow_private_targets,
                endpoint_policy: config.endpoint_policy,
                extra_roots: config.extra_roots.clone(),
            },
        );
        let schedule: Vec<String> = config
            .retry_schedule
            .iter()
            .map(|step| crate::config::format_duration(*step))
            .collect();
        tracing::info!(
            tick = %crate::config::format_duration(config.tick),
            retry_schedule = %schedule.join(","),
            attempt_timeout = %crate::config::format_duration(config.attempt_timeout),
            claim_lease = %crate::config::format_duration(config.claim_lease),
            workers = config.workers,
            per_url_concurrency = config.per_url_concurrency,
            slow_host_share = config.slow_host_share,
            max_batch_orders = config.max_batch_orders,
            max_batch_bytes = config.max_batch_bytes,
            "dispatcher settings"
        );
        let retention = &config.retention;
        let shown = crate::config::format_duration;
        tracing::info!(
            retain_delivered = %shown(retention.policy.delivered),
            retain_dead = %shown(retention.policy.dead),
            retain_orders = %shown(retention.policy.orders),
            retain_idempotency_keys = %shown(retention.policy.idempotency_keys),
            prune_interval = %shown(retention.prune_interval),
            "retention settings"
        );
        if let Some(path) = config.extra_roots.path() {
            tracing::info!(
                path = %path.display(),
                certificates = config.extra_roots.len(),
                "trusting extra certificate authorities for webhook targets (HOOKIT_EXTRA_CA_FILE)"
            );
        }
        if config.allow_private_targets {
            tracing::warn!(
                "private targets are allowed (HOOKIT_ALLOW_PRIVATE_TARGETS): webhooks may go to loopback and private addresses"
            );
        }
        let pruner = Arc::new(Pruner::new(
            Arc::clone(&store),
            config.retention.policy,
            Arc::clone(&metrics),
        ));
        let state = AppState {
            store,
            master_key,
            operator_token: Arc::new(operator_token),
            ingest_token: Arc::new(ingest_token),
            allow_private_targets: config.allow_private_targets,
            dispatcher: dispatcher.health(),
            metrics,
            auth_throttle: Arc::new(AuthThrottle::new(config.auth.limits)),
            trusted_proxies: Arc::new(config.auth.trusted_proxies.clone()),
            freshness_skew: config.freshness_skew,
            test_webhooks: Arc::new(api::test_webhook::TestWebhooks::new(config.attempt_timeout)),
            console: config.console,
            metrics_token: config.http.metrics_token.clone().map(Arc::new),
            status_changes: Arc::default(),
            pruner: Arc::clone(&pruner),
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|err| format!("cannot listen on {} (HOOKIT_LISTEN): {err}", config.listen))?;
        let address = listener.local_addr()?;
        let (stop_http, stopped) = tokio::sync::watch::channel(false);
        let http = api::listen(listener, state, &config, stopped.clone()).await?;
        let pruning = pruner.spawn(config.retention.prune_interval, stopped);
        tracing::info!(
            "hookit serve listening on http://{address} (data dir {})",
            config.data_dir.display()
        );
        Ok(Server {
            address,
            http,
            stop_http,
            dispatcher,
            pruning,
            attempt_timeout: config.attempt_timeout,
        })
    }

    /// Stops accepting requests and claiming deliveries, lets requests and in-flight
    /// attempts finish — each within the attempt timeout, the dispatcher's recording
    /// within a second more — and returns. Nothing it waits for can hold it longer.
    pub async fn stop(self) {
        let _ = self.stop_http.send(true);
        // A batch cut off here is one transaction, rolled back or done whole.
        self.pruning.abort();
        let bound = self.attempt_timeout;
        let http = async move {
            let mut http = self.http;
            if tokio::time::timeout(bound, &mut http).await.is_err() {
                tracing::warn!("requests still open after the attempt timeout were cut off");
                http.abort();
            }
        };
        tokio::join!(http, self.dispatcher.shutdown());
    }
}

fn bootstrap(
    config: &ServeConfig,
    configured: Option<crate::credentials::Secret>,
    kind: BootstrapSecret,
) -> Result<crate::credentials::Secret, ServeError> {
    let (secret, source) = load_or_create(&config.data_dir, configured, kind)?;
    match (&source, kind) {
        (SecretSource::CreatedFile(_), BootstrapSecret::MasterKey) => tracing::warn!(
            "{kind} {source}; in production supply it through {} and keep a copy: \
             without it no webhook secret can be decrypted",
            kind.env_var()
        ),
        _ => tracing::info!("{kind} {source}"),
    }
    Ok(secret)
}

/// SIGTERM or Ctrl-C (SIGINT), registered when this is called rather than when it is
/// first awaited: a signal that arrives while the server is still starting is kept, and
/// stops it cleanly as soon as it has started.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn received(signal: std::io::Result<Signal>) {
        match signal {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
    let terminate = received(signal(SignalKind::terminate()));
    let interrupt = received(signal(SignalKind::interrupt()));
    async move {
        tokio::select! {
            _ = terminate => {}
            _ = interrupt => {}
        }
    }
}

/// Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
