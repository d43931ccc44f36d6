//! The pruner: removes what is past its retention (`HOOKIT_RETAIN_*`), in the
//! background of `hookit serve` every `HOOKIT_PRUNE_INTERVAL`, and when an operator
//! asks (`POST /v1/operator/prune`, `hookit prune`).
//!
//! A prune takes each kind of record in turn — delivered deliveries, dead ones, then
//! orders (which the deliveries may have been holding), then the tombstones of orders
//! pruned a retention ago, then idempotency keys — one
//! store batch per transaction, of at most [`PRUNE_BATCH`] records and, on SQLite,
//! stopped after [`PRUNE_WRITE_BUDGET`] of work, yielding between batches so that
//! ingest and the dispatcher get the writer in between. On SQLite it then gives the
//! freed pages back to the file system, one budgeted write at a time. What it removes
//! is counted in `hookit_pruned_total{kind}`, each write's time (asking the store to
//! its commit) in `hookit_prune_seconds{step="batch"|"reclaim"}`, and each run that
//! removed anything logs one line with its counts and its longest write. The rules of
//! what may go are the store's (`store/retention.rs`).
//!
//! [`PRUNE_BATCH`]: crate::store::PRUNE_BATCH
//! [`PRUNE_WRITE_BUDGET`]: crate::store::PRUNE_WRITE_BUDGET

use crate::metrics::Metrics;
use crate::store::{
    Millis, PruneCounts, PruneKind, RetentionPolicy, Store, StoreResult, now_millis,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most pages given back to the file system per write (4 MiB at SQLite's default
/// 4 KiB pages); the store stops sooner once the write has used its time budget.
const RECLAIM_PAGES: u32 = 1024;

/// How many writes of one step a prune made and how long they took, each from asking
/// the store to its commit.
#[derive(Debug, Default)]
struct WriteTimes {
    count: u64,
    longest: Duration,
    total: Duration,
}

impl WriteTimes {
    fn add(&mut self, took: Duration) {
        self.count += 1;
        self.longest = self.longest.max(took);
        self.total += took;
    }

    fn longest_ms(&self) -> f64 {
        (self.longest.as_secs_f64() * 1e4).round() / 10.0
    }

    fn total_ms(&self) -> f64 {
        (self.total.as_secs_f64() * 1e4).round() / 10.0
    }
}

/// Runs prunes for one process: at most one at a time.
pub struct Pruner {
    store: Arc<dyn Store>,
    policy: RetentionPolicy,
    metrics: Arc<Metrics>,
    turn: tokio::sync::Mutex<()>,
}

impl Pruner {
    pub fn new(store: Arc<dyn Store>, policy: RetentionPolicy, metrics: Arc<Metrics>) -> Self {
        Pruner {
            store,
            policy,
            metrics,
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// The retention this pruner applies.
    pub fn policy(&self) -> RetentionPolicy {
        self.policy
    }

    /// How many records of each kind a prune at `now` would remove.
    pub async fn count(&self, now: Millis) -> StoreResult<PruneCounts> {
        self.store.count_prunable(self.policy, now).await
    }

    /// Removes everything past its retention at `now`, batch by batch, and returns
    /// how much of each kind went. A prune already running in this process is waited
    /// for first.
    pub async fn prune(&self, now: Millis) -> StoreResult<PruneCounts> {
        let _turn = self.turn.lock().await;
        let started = Instant::now();
        let mut counts = PruneCounts::default();
        let mut batches = WriteTimes::default();
        for kind in PruneKind::ALL {
            loop {
                let asked = Instant::now();
                let batch = self.store.prune_batch(kind, self.policy, now).await?;
                let took = asked.elapsed();
                batches.add(took);
                self.metrics.prune_write("batch", took.as_secs_f64());
                counts.add(kind, batch.records);
                self.metrics.pruned(kind.as_str(), batch.records);
                if !batch.more {
                    break;
                }
                // Let the writes queued meanwhile (ingest, the dispatcher) go first.
                tokio::task::yield_now().await;
            }
        }
        if counts.total() > 0 {
            let reclaims = self.reclaim_space().await?;
            tracing::info!(
                delivered = counts.delivered,
                dead = counts.dead,
                orders = counts.orders,
                tombstones = counts.tombstones,
                idempotency_keys = counts.idempotency_keys,
                batches = batches.count,
                batch_longest_ms = batches.longest_ms(),
                batch_total_ms = batches.total_ms(),
                reclaims = reclaims.count,
                reclaim_longest_ms = reclaims.longest_ms(),
                reclaim_total_ms = reclaims.total_ms(),
                took_ms = started.elapsed().as_millis() as u64,
                "pruned what was past its retention"
            );
        }
        Ok(counts)
    }

    /// Gives free pages back a few at a time until none are left, or until a round
    /// frees nothing (a database without incremental auto-vacuum, see `hookit db
    /// vacuum`, keeps its free pages for reuse).
    async fn reclaim_space(&self) -> StoreResult<WriteTimes> {
        let mut free = u64::MAX;
        let mut times = WriteTimes::default();
        loop {
            let asked = Instant::now();
            let left = self.store.reclaim_space(RECLAIM_PAGES).await?;
            let took = asked.elapsed();
            times.add(took);
            self.metrics.prune_write("reclaim", took.as_secs_f64());
            if left == 0 || left >= free {
                return Ok(times);
            }
            free = left;
            tokio::task::yield_now().await;
        }
    }

    /// Prunes every `interval` until `stop` turns true. A failed prune is logged and
    /// tried again at the next interval.
    pub fn spawn(
        self: Arc<Self>,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.changed() => return,
                }
                if *stop.borrow() {
                    return;
                }
                if let Err(err) = self.prune(now_millis()).await {
                    tracing::warn!(
                        error = %err,
                        "pruning failed; it is tried again after HOOKIT_PRUNE_INTERVAL"
                    );
                }
            }
        })
    }
}
