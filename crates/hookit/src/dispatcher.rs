//! The dispatcher: turns stored order changes into acknowledged webhooks.
//!
//! Three tasks share the work, all reading and writing only the store:
//! - the **batcher** wakes every tick (or, on a store that signals work, when work
//!   arrives: `idle`) and groups ready changes into deliveries;
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
mod idle;
mod loop_health;
mod recorder;
pub mod retry;
mod signing;
use crate::target_policy::{self, ExtraRoots};
mod url_slots;

pub use loop_health::DispatchLoop;

use crate::credentials::MasterKey;
use crate::metrics::Metrics;
use crate::store::{
    AttemptOutcome, AttemptResult, BatchLimits, ClaimRequest, ClaimedDelivery, EndpointPolicy,
    HeldLease, Millis, Store, now_millis,
};
use loop_health::LoopHealth;
use retry::RetryPolicy;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use url_slots::{AHEAD_MAX, Limits, Pace, UrlSlots};

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
    /// When circuits open and endpoints are disabled.
    pub endpoint_policy: EndpointPolicy,
    /// Certificate authorities trusted beside the public roots (`HOOKIT_EXTRA_CA_FILE`).
    pub extra_roots: ExtraRoots,
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
    slots: UrlSlots<ClaimedDelivery>,
    /// Set once shutdown began: nothing held is started any more.
    stopping: AtomicBool,
    /// The last claim left due work behind for want of room.
    more_due: AtomicBool,
    wake_claimer: Notify,
    idle: idle::IdleWait,
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
                &settings.extra_roots,
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
            idle: idle::IdleWait::new(store.work_signal(), settings.tick),
            stopping: AtomicBool::new(false),
            more_due: AtomicBool::new(false),
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
            shared.settings.endpoint_policy,
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
        let signalled = tokio::select! {
            signalled = shared.idle.before_batching(&mut ticker) => signalled,
            _ = shutdown.changed() => return,
        };
        match shared
            .store
            .form_deliveries(shared.settings.batch, now_millis())
            .await
        {
            Ok(formed) => {
                shared.loops.progressed(DispatchLoop::Batcher, now_millis());
                if formed > 0 {
                    tracing::debug!(formed, "deliveries formed");
                }
                // A signal may also announce a replayed delivery, which is not formed.
                if formed > 0 || signalled {
                    shared.wake_claimer.notify_one();
                }
            }
            Err(err) => tracing::error!(error = %err, "batching failed; retrying next tick"),
        }
    }
}

/// The most deliveries leased in one claim transaction.
const CLAIM_BATCH: usize = 512;

/// A held delivery starts only while its lease has this much left beyond the attempt
/// timeout (or half the lease's excess over the timeout, if that is less), so its
/// outcome can be recorded before another claim could take it.
const LEASE_MARGIN: Duration = Duration::from_secs(2);

async fn claim_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>, _alive: AliveGuard) {
    loop {
        tokio::select! {
            _ = shared.wake_claimer.notified() => {}
            _ = tokio::time::sleep(shared.idle.claimer_timeout()) => {}
            _ = shutdown.changed() => break,
        }
        match claim_and_hold(&shared).await {
            Ok(()) => shared.loops.progressed(DispatchLoop::Claimer, now_millis()),
            Err(err) => {
                tracing::error!(error = %err, "claiming deliveries failed; retrying next tick")
            }
        }
    }
    // Graceful shutdown: nothing new is claimed or started; what is held goes back to
    // the store, and in-flight attempts finish within the attempt timeout (each holds
    // a worker permit) and their outcomes are recorded before the recorder stops.
    shared.stopping.store(true, Ordering::Relaxed);
    let held = shared.slots.drain();
    if !held.is_empty() {
        release(&shared.store, held).await;
    }
    let workers = u32::try_from(shared.settings.workers).unwrap_or(u32::MAX);
    let _ = shared.workers.acquire_many(workers).await;
}

/// Leases due deliveries — as many as there are free workers, plus what fast URLs may
/// hold ahead — holds them by URL and starts those that have a free slot.
async fn claim_and_hold(shared: &Arc<Shared>) -> Result<(), crate::store::StoreError> {
    loop {
        let room = AHEAD_MAX.saturating_sub(shared.slots.held());
        let limit = (shared.workers.available_permits() + room).min(CLAIM_BATCH);
        if limit == 0 {
            return Ok(());
        }
        let filter = shared.slots.claim_filter();
        let held_back = !filter.saturated_urls.is_empty() || !filter.saturated_hosts.is_empty();
        let refused = Arc::new(AtomicBool::new(false));
        let mut admit = shared.slots.admission();
        let refused_in_claim = Arc::clone(&refused);
        let lease_ends = std::time::Instant::now() + shared.settings.claim_lease;
        let claim = ClaimRequest {
            now: now_millis(),
            lease: shared.settings.claim_lease,
            limit,
            saturated_urls: filter.saturated_urls,
            saturated_hosts: filter.saturated_hosts,
            only_hosts: filter.only_hosts,
            accept: Box::new(move |url| {
                let room = admit(url);
                if !room {
                    refused_in_claim.store(true, Ordering::Relaxed);
                }
                room
            }),
        };
        let claimed = shared.store.claim_due(claim).await?;
        let full = claimed.len() == limit;
        // Anything left behind for want of room is claimed when an attempt frees some.
        shared.more_due.store(
            full || held_back || refused.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let mut unheld = Vec::new();
        for delivery in claimed {
            let url = delivery.url.clone();
            let bytes = delivery.body.len();
            if let Err(delivery) = shared.slots.hold(&url, delivery, bytes, lease_ends) {
                unheld.push(delivery);
            }
        }
        if !unheld.is_empty() {
            spawn_release(shared, unheld);
        }
        start_ready(shared);
        if !full {
            return Ok(());
        }
    }
}

/// Starts held deliveries while workers and their slots are free.
fn start_ready(shared: &Arc<Shared>) {
    let settings = &shared.settings;
    let spare = settings
        .claim_lease
        .saturating_sub(settings.attempt_timeout)
        / 2;
    let min_left = settings.attempt_timeout + spare.min(LEASE_MARGIN);
    while !shared.stopping.load(Ordering::Relaxed) {
        let Ok(permit) = Arc::clone(&shared.workers).try_acquire_owned() else {
            return;
        };
        let ready = shared.slots.take_ready(std::time::Instant::now(), min_left);
        if !ready.expired.is_empty() {
            spawn_release(shared, ready.expired);
        }
        let Some((delivery, slot)) = ready.start else {
            return;
        };
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let (pace, took) = run_attempt(&shared, delivery).await;
            slot.finish(pace, took);
            drop(permit);
            start_ready(&shared);
            if shared.more_due.load(Ordering::Relaxed) {
                shared.wake_claimer.notify_one();
            }
        });
    }
}

/// Hands back deliveries that were claimed but will not be attempted now, so they are
/// claimable again at once instead of when their leases expire.
fn spawn_release(shared: &Arc<Shared>, deliveries: Vec<ClaimedDelivery>) {
    let store = Arc::clone(&shared.store);
    tokio::spawn(async move { release(&store, deliveries).await });
}

async fn release(store: &Arc<dyn Store>, deliveries: Vec<ClaimedDelivery>) {
    let leases: Vec<HeldLease> = deliveries
        .into_iter()
        .map(|d| HeldLease {
            event_id: d.event_id,
            lease_token: d.lease_token,
        })
        .collect();
    if let Err(err) = store.release_leases(&leases).await {
        tracing::warn!(error = %err, count = leases.len(), "could not release leases; they will expire");
    }
}

/// Makes one attempt and hands its outcome to the recorder; returns how fast the host
/// was and how long the attempt took, for the slow-host pool and the held-ahead room.
async fn run_attempt(shared: &Shared, delivery: ClaimedDelivery) -> (Pace, Duration) {
    let secrets = signing::LiveSecrets::decrypt(&shared.master_key, &delivery);
    let started_at = now_millis();
    let report = attempt::send(
        &shared.client,
        &delivery,
        secrets,
        shared.settings.allow_private_targets,
    )
    .await;
    let finished_at = now_millis();
    let retry_at = match &report.result {
        AttemptResult::Acknowledged { .. } => None,
        // A failed probe waits on its circuit, not on its schedule (`endpoint_health`).
        AttemptResult::Failed { .. } if delivery.probe => Some(finished_at),
        AttemptResult::Failed { retry_after, .. } => {
            shared
                .retry
                .retry_at(delivery.retry_index, finished_at, *retry_after)
        }
    };
    observe(&shared.metrics, &delivery, &report, retry_at, finished_at);
    if let Some(at) = retry_at {
        shared.idle.retry_scheduled(at);
    }
    let timed_out = matches!(&report.result, AttemptResult::Failed { error_kind, .. } if error_kind == "timeout");
    let pace = if timed_out || report.duration > shared.settings.attempt_timeout / 2 {
        Pace::Slow
    } else {
        Pace::Fast
    };
    let outcome = AttemptOutcome {
        event_id: delivery.event_id,
        lease_token: delivery.lease_token,
        partner_id: delivery.partner_id,
        probe: delivery.probe,
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
    (pace, report.duration)
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
        (AttemptResult::Failed { error_kind, .. }, None) => {
            tracing::warn!(
                event_id = %delivery.event_id,
                partner_id = %delivery.partner_id,
                url = %url_for_log(&delivery.url),
                attempts = delivery.attempt_number,
                error_kind = %error_kind,
                "delivery is dead: its retry schedule is exhausted; fix the endpoint and \
                 replay it (hookit deliveries replay)"
            );
            "dead"
        }
    };
    metrics.attempt(&delivery.partner_id, outcome, report.duration.as_secs_f64());
}

/// A webhook URL as the log shows it: without its query, where partners often put an
/// access token.
fn url_for_log(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.query().is_some() {
                parsed.set_query(Some("[redacted]"));
            }
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::url_for_log;

    #[test]
    fn the_log_never_shows_a_webhook_urls_query() {
        assert_eq!(
            url_for_log("https://pos.example/hooks?token=s3cret&x=1"),
            "https://pos.example/hooks?[redacted]"
        );
        assert_eq!(
            url_for_log("https://pos.example/hooks"),
            "https://pos.example/hooks"
        );
        assert_eq!(url_for_log("not a url?token=s3cret"), "not a url");
    }
}
