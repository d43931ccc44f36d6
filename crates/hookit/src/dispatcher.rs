//! The dispatcher: turns stored order changes into acknowledged webhooks.
//!
//! Three tasks share the work, all reading and writing only the store:
//! - the **batcher** wakes every tick and groups ready changes into deliveries;
//! - the **claimer** leases due deliveries and starts one attempt task each, within a
//!   global worker limit, a per-URL limit, a per-host share and a pool for slow hosts
//!   (`url_slots`), so hanging endpoints can occupy at most their own share of the
//!   workers;
//! - the **recorder** writes attempt outcomes back in batches.
//!
//! Nothing here outlives a crash: in-flight work is a lease in the store, and a lease
//! that is not settled expires and is claimed again (by this process or another) under
//! the same event id. Each claim carries its own lease token, so an outcome that comes
//! back after its lease was replaced is recorded but does not move the delivery.

mod attempt;
mod loop_health;
mod recorder;
pub mod retry;
use crate::target_policy;
mod url_slots;

pub use loop_health::DispatchLoop;

use crate::credentials::MasterKey;
use crate::metrics::Metrics;
use crate::store::{
    AttemptOutcome, AttemptResult, BatchLimits, ClaimRequest, ClaimedDelivery, HeldLease, Millis,
    Store, now_millis,
};
use loop_health::LoopHealth;
use retry::RetryPolicy;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use url_slots::{Limits, Pace, UrlSlots};

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
    /// The share of the workers that slow hosts may hold together (0 < share <= 1).
    pub slow_host_share: f64,
    pub allow_private_targets: bool,
}

/// How long the recorder may go on writing outcomes after the last attempt had to
/// end, at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A running dispatcher.
pub struct Dispatcher {
    shutdown: watch::Sender<bool>,
    running: Arc<AtomicBool>,
    loops: LoopHealth,
    attempt_timeout: Duration,
    tasks: JoinSet<()>,
}

/// Whether the dispatcher's loops are alive and making progress, for `/readyz`.
#[derive(Clone, Debug)]
pub struct DispatcherHealth {
    running: Arc<AtomicBool>,
    loops: LoopHealth,
}

impl DispatcherHealth {
    /// True while the dispatcher's loops run.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Each loop and whether it is ok at `now` (see `loop_health`).
    pub fn loops(&self, now: Millis) -> [(DispatchLoop, bool); 3] {
        DispatchLoop::ALL.map(|which| (which, self.loops.is_ok(which, now)))
    }
}

struct Shared {
    store: Arc<dyn Store>,
    settings: DispatcherSettings,
    master_key: Arc<MasterKey>,
    client: reqwest::Client,
    retry: RetryPolicy,
    workers: Arc<Semaphore>,
    slots: UrlSlots,
    wake_claimer: Notify,
    metrics: Arc<Metrics>,
    loops: LoopHealth,
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
        let loops = LoopHealth::new(settings.tick, now_millis());
        let shared = Arc::new(Shared {
            client: target_policy::build_client(
                settings.allow_private_targets,
                settings.attempt_timeout,
            ),
            retry: RetryPolicy::new(settings.retry_schedule.clone()),
            workers: Arc::new(Semaphore::new(settings.workers)),
            slots: UrlSlots::new(Limits::new(
                settings.workers,
                settings.per_host_concurrency,
                settings.slow_host_share,
                settings.attempt_timeout,
            )),
            wake_claimer: Notify::new(),
            loops: loops.clone(),
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
        tasks.spawn(recorder::record_loop(
            Arc::clone(&shared.store),
            Arc::clone(&shared.metrics),
            loops.clone(),
            outcomes_rx,
        ));
        let attempt_timeout = shared.settings.attempt_timeout;
        drop(shared);
        Dispatcher {
            shutdown,
            running,
            loops,
            attempt_timeout,
            tasks,
        }
    }

    /// A handle that reports whether the loops are alive and making progress.
    pub fn health(&self) -> DispatcherHealth {
        DispatcherHealth {
            running: Arc::clone(&self.running),
            loops: self.loops.clone(),
        }
    }

    /// Stops claiming, lets in-flight attempts finish and records their outcomes —
    /// within the attempt timeout plus [`SHUTDOWN_GRACE`]; whatever is still running
    /// then is abandoned (its leases expire and it is attempted again later).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.attempt_timeout + SHUTDOWN_GRACE, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                "the dispatcher did not finish within the attempt timeout; abandoning what is \
                 left (unrecorded attempts are repeated after their leases expire)"
            );
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
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
            Ok(formed) => {
                shared.loops.progressed(DispatchLoop::Batcher, now_millis());
                if formed > 0 {
                    tracing::debug!(formed, "deliveries formed");
                    shared.wake_claimer.notify_one();
                }
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
        match claim_and_start(&shared, &mut attempts).await {
            Ok(()) => shared.loops.progressed(DispatchLoop::Claimer, now_millis()),
            Err(err) => {
                tracing::error!(error = %err, "claiming deliveries failed; retrying next tick")
            }
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
        let filter = shared.slots.claim_filter();
        let claim = ClaimRequest {
            now: now_millis(),
            lease: shared.settings.claim_lease,
            limit: free,
            saturated_urls: filter.saturated_urls,
            saturated_hosts: filter.saturated_hosts,
            only_hosts: filter.only_hosts,
            accept: Box::new(shared.slots.admission()),
        };
        let claimed = shared.store.claim_due(claim).await?;
        let full = claimed.len() == free;
        // Admission already counted the room, so every claimed delivery normally
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
                let pace = run_attempt(&shared, delivery).await;
                slot.finish(pace);
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
    let leases: Vec<HeldLease> = deliveries
        .into_iter()
        .map(|d| HeldLease {
            event_id: d.event_id,
            lease_token: d.lease_token,
        })
        .collect();
    tokio::spawn(async move {
        if let Err(err) = store.release_leases(&leases).await {
            tracing::warn!(error = %err, count = leases.len(), "could not release leases; they will expire");
        }
    });
}

/// Makes one attempt and hands its outcome to the recorder; returns how fast the host
/// was, for the slow-host pool.
async fn run_attempt(shared: &Shared, delivery: ClaimedDelivery) -> Pace {
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
    let timed_out = matches!(&report.result, AttemptResult::Failed { error_kind, .. } if error_kind == "timeout");
    let pace = if timed_out || report.duration > shared.settings.attempt_timeout / 2 {
        Pace::Slow
    } else {
        Pace::Fast
    };
    let outcome = AttemptOutcome {
        event_id: delivery.event_id,
        lease_token: delivery.lease_token,
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
    pace
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
