//! The dispatcher: turns stored order changes into acknowledged webhooks.
//!
//! Three tasks share the work, all reading and writing only the store:
//! - the **batcher** wakes every tick and groups ready changes into deliveries;
//! - the **claimer** leases due deliveries and starts one attempt task each, within a
//!   global worker limit and a per-host limit, so a hanging endpoint can occupy at
//!   most its own share of the workers;
//! - the **recorder** writes attempt outcomes back in batches.
//!
//! Nothing here outlives a crash: in-flight work is a lease in the store, and a lease
//! that is not settled expires and is claimed again (by this process or another) under
//! the same event id.

mod attempt;
pub mod retry;
use crate::target_policy;
mod url_slots;

use crate::credentials::MasterKey;
use crate::ids::IdKind;
use crate::metrics::Metrics;
use crate::store::{
    AttemptOutcome, AttemptResult, BatchLimits, ClaimRequest, ClaimedDelivery, Store, now_millis,
};
use retry::RetryPolicy;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use url_slots::UrlSlots;

/// How the dispatcher behaves; taken from the serve configuration.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    pub tick: Duration,
    pub batch: BatchLimits,
    pub attempt_timeout: Duration,
    pub claim_lease: Duration,
    pub retry_schedule: Vec<Duration>,
    pub workers: usize,
    pub per_host_concurrency: usize,
    pub allow_private_targets: bool,
}

/// A running dispatcher.
pub struct Dispatcher {
    shutdown: watch::Sender<bool>,
    running: Arc<AtomicBool>,
    tasks: JoinSet<()>,
}

/// Whether the dispatcher's loops are alive, for `/readyz`.
#[derive(Clone, Debug)]
pub struct DispatcherHealth(Arc<AtomicBool>);

impl DispatcherHealth {
    /// True while the dispatcher's loops run.
    pub fn is_running(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

struct Shared {
    store: Arc<dyn Store>,
    settings: DispatcherSettings,
    master_key: Arc<MasterKey>,
    client: reqwest::Client,
    retry: RetryPolicy,
    owner: String,
    workers: Arc<Semaphore>,
    slots: UrlSlots,
    wake_claimer: Notify,
    metrics: Arc<Metrics>,
    outcomes: mpsc::UnboundedSender<AttemptOutcome>,
}

impl Dispatcher {
    /// Starts the batcher, claimer and recorder.
    pub fn start(
        store: Arc<dyn Store>,
        master_key: Arc<MasterKey>,
        metrics: Arc<Metrics>,
        settings: DispatcherSettings,
    ) -> Dispatcher {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (outcomes, outcomes_rx) = mpsc::unbounded_channel();
        let running = Arc::new(AtomicBool::new(true));
        let shared = Arc::new(Shared {
            client: target_policy::build_client(
                settings.allow_private_targets,
                settings.attempt_timeout,
            ),
            retry: RetryPolicy::new(settings.retry_schedule.clone()),
            owner: IdKind::Request.generate().replacen("req_", "dsp_", 1),
            workers: Arc::new(Semaphore::new(settings.workers)),
            slots: UrlSlots::new(settings.per_host_concurrency),
            wake_claimer: Notify::new(),
            store,
            settings,
            master_key,
            metrics,
            outcomes,
        });
        let mut tasks = JoinSet::new();
        let alive = || AliveGuard(Arc::clone(&running));
        tasks.spawn(batch_loop(
            Arc::clone(&shared),
            shutdown_rx.clone(),
            alive(),
        ));
        tasks.spawn(claim_loop(Arc::clone(&shared), shutdown_rx, alive()));
        tasks.spawn(record_loop(Arc::clone(&shared.store), outcomes_rx));
        drop(shared);
        Dispatcher {
            shutdown,
            running,
            tasks,
        }
    }

    /// A handle that reports whether the loops are alive.
    pub fn health(&self) -> DispatcherHealth {
        DispatcherHealth(Arc::clone(&self.running))
    }

    /// Stops claiming, lets in-flight attempts finish (each is bounded by the attempt
    /// timeout), records their outcomes, then returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Marks the dispatcher as not running when a loop ends, however it ends.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

async fn batch_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>, _alive: AliveGuard) {
    let mut ticker = tokio::time::interval(shared.settings.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        match shared
            .store
            .form_deliveries(shared.settings.batch, now_millis())
            .await
        {
            Ok(0) => {}
            Ok(formed) => {
                tracing::debug!(formed, "deliveries formed");
                shared.wake_claimer.notify_one();
            }
            Err(err) => tracing::error!(error = %err, "batching failed; retrying next tick"),
        }
    }
}

/// The most deliveries leased in one claim transaction.
const CLAIM_BATCH: usize = 256;

async fn claim_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>, _alive: AliveGuard) {
    let mut attempts = JoinSet::new();
    loop {
        tokio::select! {
            _ = shared.wake_claimer.notified() => {}
            _ = tokio::time::sleep(shared.settings.tick) => {}
            _ = shutdown.changed() => break,
        }
        while attempts.try_join_next().is_some() {}
        if let Err(err) = claim_and_start(&shared, &mut attempts).await {
            tracing::error!(error = %err, "claiming deliveries failed; retrying next tick");
        }
    }
    // Graceful shutdown: nothing new is claimed; in-flight attempts finish within the
    // attempt timeout and their outcomes are recorded before the recorder stops.
    while attempts.join_next().await.is_some() {}
}

/// Claims as many due deliveries as there are free workers and starts them.
async fn claim_and_start(
    shared: &Arc<Shared>,
    attempts: &mut JoinSet<()>,
) -> Result<(), crate::store::StoreError> {
    loop {
        let free = shared.workers.available_permits().min(CLAIM_BATCH);
        if free == 0 {
            return Ok(());
        }
        let claim = ClaimRequest {
            owner: shared.owner.clone(),
            now: now_millis(),
            lease: shared.settings.claim_lease,
            limit: free,
            saturated_urls: shared.slots.saturated_urls(),
            accept: Box::new(shared.slots.admission()),
        };
        let claimed = shared.store.claim_due(claim).await?;
        let full = claimed.len() == free;
        // Admission already counted host room, so every claimed delivery normally
        // starts; the overflow path only guards against a miscount.
        let mut overflow = Vec::new();
        for delivery in claimed {
            let Some(slot) = shared.slots.try_enter(&delivery.url) else {
                overflow.push(delivery);
                continue;
            };
            let Ok(permit) = Arc::clone(&shared.workers).try_acquire_owned() else {
                overflow.push(delivery);
                continue;
            };
            let shared = Arc::clone(shared);
            attempts.spawn(async move {
                run_attempt(&shared, delivery).await;
                drop(slot);
                drop(permit);
                shared.wake_claimer.notify_one();
            });
        }
        if !overflow.is_empty() {
            release_unstarted(shared, overflow);
        }
        if !full {
            return Ok(());
        }
    }
}

/// Hands back deliveries that were claimed but could not start (their host had no
/// free slot), so they are claimable again at once instead of when the lease expires.
fn release_unstarted(shared: &Arc<Shared>, deliveries: Vec<ClaimedDelivery>) {
    let store = Arc::clone(&shared.store);
    let owner = shared.owner.clone();
    let ids: Vec<String> = deliveries.into_iter().map(|d| d.event_id).collect();
    tokio::spawn(async move {
        if let Err(err) = store.release_leases(&owner, &ids).await {
            tracing::warn!(error = %err, count = ids.len(), "could not release leases; they will expire");
        }
    });
}

async fn run_attempt(shared: &Shared, delivery: ClaimedDelivery) {
    let secret = shared
        .master_key
        .decrypt(
            &delivery.webhook_secret_encrypted,
            delivery.partner_id.as_bytes(),
        )
        .map_err(|err| err.to_string());
    let started_at = now_millis();
    let report = attempt::send(
        &shared.client,
        &delivery,
        secret
            .as_ref()
            .map(|s| s.expose().as_bytes())
            .map_err(Clone::clone),
        shared.settings.allow_private_targets,
    )
    .await;
    let finished_at = now_millis();
    let retry_at = match &report.result {
        AttemptResult::Acknowledged { .. } => None,
        AttemptResult::Failed { retry_after, .. } => {
            shared
                .retry
                .retry_at(delivery.retry_index, finished_at, *retry_after)
        }
    };
    observe(&shared.metrics, &delivery, &report, retry_at, finished_at);
    let outcome = AttemptOutcome {
        event_id: delivery.event_id,
        owner: shared.owner.clone(),
        attempt_number: delivery.attempt_number,
        url: delivery.url,
        started_at,
        duration_ms: report.duration.as_millis() as i64,
        result: report.result,
        response_excerpt: report.response_excerpt,
        retry_at,
        finished_at,
    };
    if shared.outcomes.send(outcome).is_err() {
        tracing::warn!(
            "outcome recorder stopped; the lease will expire and the delivery be retried"
        );
    }
}

fn observe(
    metrics: &Metrics,
    delivery: &ClaimedDelivery,
    report: &attempt::AttemptReport,
    retry_at: Option<crate::store::Millis>,
    finished_at: crate::store::Millis,
) {
    if delivery.attempt_number == 1 {
        metrics.first_attempt(delivery.order_count);
    }
    let outcome = match (&report.result, retry_at) {
        (AttemptResult::Acknowledged { .. }, _) => {
            let waited = (finished_at - delivery.first_ingested_at).max(0) as f64 / 1000.0;
            metrics.acknowledged_after(waited);
            "acknowledged"
        }
        (AttemptResult::Failed { .. }, Some(_)) => "failed",
        (AttemptResult::Failed { .. }, None) => "dead",
    };
    metrics.attempt(&delivery.partner_id, outcome, report.duration.as_secs_f64());
}

/// The most outcomes written in one transaction.
const RECORD_BATCH: usize = 512;

async fn record_loop(store: Arc<dyn Store>, mut outcomes: mpsc::UnboundedReceiver<AttemptOutcome>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while outcomes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let pending = std::mem::take(&mut batch);
        let mut delay = Duration::from_millis(50);
        // Outcomes are retried until written: dropping one would only cause a repeat
        // attempt after its lease expires, but writing it is cheaper for everyone.
        while let Err(err) = store.record_outcomes(pending.clone()).await {
            tracing::error!(error = %err, count = pending.len(), "recording outcomes failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}
