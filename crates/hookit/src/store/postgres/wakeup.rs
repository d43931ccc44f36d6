//! Waking idle dispatchers: a dedicated `LISTEN` connection turns every `NOTIFY` on
//! this schema's channel into a wake-up of the local dispatcher, and [`Notifier`]
//! sends the `NOTIFY` of frequent writes after they commit.
//!
//! The listener starts the first time a dispatcher asks for the signal, so stores that
//! never dispatch (tests, the CLI) hold no extra connection. When the connection is
//! lost, notifications sent meanwhile are lost too: the listener then wakes the
//! dispatcher once anyway, and reconnects.

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// How long to wait before connecting again after the listener failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

pub(super) struct Wakeup {
    options: PgConnectOptions,
    channel: String,
    signal: Arc<Notify>,
    task: OnceLock<tokio::task::JoinHandle<()>>,
}

impl Wakeup {
    pub(super) fn new(options: PgConnectOptions, channel: String) -> Self {
        Wakeup {
            options,
            channel,
            signal: Arc::new(Notify::new()),
            task: OnceLock::new(),
        }
    }

    /// The signal, starting the listener on first use (within a tokio runtime).
    pub(super) fn signal(&self) -> Option<Arc<Notify>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        self.task.get_or_init(|| {
            runtime.spawn(listen(
                self.options.clone(),
                self.channel.clone(),
                Arc::clone(&self.signal),
            ))
        });
        Some(Arc::clone(&self.signal))
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

async fn listen(options: PgConnectOptions, channel: String, signal: Arc<Notify>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::debug!(error = %err, "cannot connect the work listener; retrying");
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(&channel).await {
            tracing::debug!(error = %err, "cannot LISTEN for work; retrying");
            tokio::time::sleep(RECONNECT_DELAY).await;
            continue;
        }
        // Whatever was notified before this LISTEN took effect was missed.
        signal.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => signal.notify_one(),
                // The connection was lost: notifications may have been missed.
                Ok(None) => signal.notify_one(),
                Err(err) => {
                    tracing::debug!(error = %err, "the work listener failed; reconnecting");
                    signal.notify_one();
                    tokio::time::sleep(RECONNECT_DELAY).await;
                    break;
                }
            }
        }
    }
}

/// Sends `NOTIFY` for writes that commit often (ingest, promoted changes) after their
/// commit, in a transaction of its own, coalesced: every write that asks is followed by
/// a `NOTIFY` that starts after its commit, and writes that ask while one is being sent
/// share the next. PostgreSQL serializes the commits of transactions that notify (they
/// take one database-wide lock through their commit and its WAL flush); sent from the
/// writes themselves it bounded one-change-per-request ingest to one commit at a time.
pub(super) struct Notifier {
    pool: PgPool,
    channel: String,
    pending: Arc<Notify>,
    task: OnceLock<tokio::task::JoinHandle<()>>,
}

impl Notifier {
    pub(super) fn new(pool: PgPool, channel: String) -> Self {
        Notifier {
            pool,
            channel,
            pending: Arc::new(Notify::new()),
            task: OnceLock::new(),
        }
    }

    /// Asks for a `NOTIFY` after what the caller has committed (starting the sender on
    /// first use, within a tokio runtime).
    pub(super) fn wake(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.task.get_or_init(|| {
            runtime.spawn(send_notifications(
                self.pool.clone(),
                self.channel.clone(),
                Arc::clone(&self.pending),
            ))
        });
        self.pending.notify_one();
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

async fn send_notifications(pool: PgPool, channel: String, pending: Arc<Notify>) {
    loop {
        pending.notified().await;
        let sent = sqlx::query("SELECT pg_notify($1, '')")
            .bind(&channel)
            .execute(&pool)
            .await;
        if let Err(err) = sent {
            // Listeners fall back to their own timers meanwhile; try again shortly.
            tracing::debug!(error = %err, "cannot send a work notification; retrying");
            tokio::time::sleep(RECONNECT_DELAY).await;
            pending.notify_one();
        }
    }
}
