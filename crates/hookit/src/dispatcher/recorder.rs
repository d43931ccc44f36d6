//! The recorder: writes attempt outcomes back in batches, retrying until the store
//! takes them, and reports its progress for readiness.

use super::DispatchLoop;
use super::loop_health::LoopHealth;
use crate::metrics::Metrics;
use crate::store::{AttemptOutcome, Store, now_millis};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The most outcomes written in one transaction.
const RECORD_BATCH: usize = 512;

pub(super) async fn record_loop(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    loops: LoopHealth,
    mut outcomes: mpsc::UnboundedReceiver<AttemptOutcome>,
) {
    let recorder = DispatchLoop::Recorder;
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while outcomes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        loops.set_busy(recorder, true, now_millis());
        let pending = std::mem::take(&mut batch);
        let mut delay = Duration::from_millis(50);
        // Outcomes are retried until written: dropping one would only cause a repeat
        // attempt after its lease expires, but writing it is cheaper for everyone.
        loop {
            match store.record_outcomes(pending.clone()).await {
                Ok(stale) => {
                    if stale > 0 {
                        tracing::info!(
                            stale,
                            "outcomes came back after their leases were replaced; recorded, \
                             deliveries left to the later claim"
                        );
                        metrics.stale_outcomes(stale as u64);
                    }
                    break;
                }
                Err(err) => {
                    tracing::error!(error = %err, count = pending.len(), "recording outcomes failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        let now = now_millis();
        loops.progressed(recorder, now);
        if outcomes.is_empty() {
            loops.set_busy(recorder, false, now);
        }
    }
}
