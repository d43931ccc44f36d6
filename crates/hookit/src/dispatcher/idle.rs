//! How the batcher and the claimer wait between rounds.
//!
//! A store that cannot signal new work (SQLite, in one process) is polled every tick.
//! A store that can (PostgreSQL's `LISTEN/NOTIFY`, shared by several processes) is
//! waited on: the batcher sleeps until a signal, then gathers for one tick so that
//! changes arriving together still share a delivery; the claimer wakes when the
//! batcher formed or was signalled, at the earliest retry this process scheduled, and
//! otherwise once a second for what no signal announces (a lease of a dead process
//! expiring). An idle process then costs the database about one query a second, not
//! two a tick.

use crate::store::{Millis, now_millis};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The longest an idle claimer waits without a signal.
const CLAIM_FALLBACK: Duration = Duration::from_secs(1);
/// The longest an idle batcher waits without a signal: it misses nothing that is
/// signalled, and stays well within the loop-health stall window (5 s or more).
const BATCH_FALLBACK: Duration = Duration::from_secs(3);

pub(super) struct IdleWait {
    signal: Option<Arc<Notify>>,
    tick: Duration,
    /// The earliest retry this process scheduled and has not yet woken for.
    earliest_retry: AtomicI64,
}

impl IdleWait {
    pub(super) fn new(signal: Option<Arc<Notify>>, tick: Duration) -> Self {
        IdleWait {
            signal,
            tick,
            earliest_retry: AtomicI64::new(Millis::MAX),
        }
    }

    /// The batcher's wait before its next round: one tick when ticking; with a
    /// signal, until it comes (or the fallback passes), then one tick to gather.
    /// Returns whether a signal ended the wait.
    pub(super) async fn before_batching(&self, ticker: &mut tokio::time::Interval) -> bool {
        let Some(signal) = &self.signal else {
            ticker.tick().await;
            return false;
        };
        let signalled = tokio::select! {
            _ = signal.notified() => true,
            _ = tokio::time::sleep(BATCH_FALLBACK.max(self.tick)) => false,
        };
        tokio::time::sleep(self.tick).await;
        signalled
    }

    /// How long the claimer may sleep when nothing wakes it.
    pub(super) fn claimer_timeout(&self) -> Duration {
        if self.signal.is_none() {
            return self.tick;
        }
        let now = now_millis();
        let retry = self.earliest_retry.load(Ordering::Relaxed);
        if retry <= now + self.tick.as_millis() as Millis {
            self.earliest_retry.store(Millis::MAX, Ordering::Relaxed);
            return self.tick;
        }
        let until_retry = Duration::from_millis(u64::try_from(retry - now).unwrap_or(u64::MAX));
        until_retry.min(CLAIM_FALLBACK).max(self.tick)
    }

    /// Notes a retry this process scheduled, so the claimer wakes for it.
    pub(super) fn retry_scheduled(&self, at: Millis) {
        self.earliest_retry.fetch_min(at, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_signal_the_claimer_ticks() {
        let idle = IdleWait::new(None, Duration::from_millis(100));
        assert_eq!(idle.claimer_timeout(), Duration::from_millis(100));
    }

    #[test]
    fn with_a_signal_the_claimer_sleeps_until_the_next_retry_or_a_second() {
        let idle = IdleWait::new(Some(Arc::new(Notify::new())), Duration::from_millis(10));
        assert_eq!(idle.claimer_timeout(), CLAIM_FALLBACK);
        idle.retry_scheduled(now_millis() + 300);
        let wait = idle.claimer_timeout();
        assert!(wait <= Duration::from_millis(300) && wait > Duration::from_millis(100));
        idle.retry_scheduled(now_millis() - 1);
        assert_eq!(idle.claimer_timeout(), Duration::from_millis(10));
        assert_eq!(
            idle.claimer_timeout(),
            CLAIM_FALLBACK,
            "woken once per retry"
        );
    }
}
