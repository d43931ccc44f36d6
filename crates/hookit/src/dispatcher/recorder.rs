//! The recorder: writes attempt outcomes back in batches, retrying until the store
//! takes them, then applies them to their endpoints' health (`endpoint_health`), and
//! reports its progress for readiness.

use super::DispatchLoop;
use super::loop_health::LoopHealth;
use crate::metrics::Metrics;
use crate::store::{
    AttemptOutcome, EndpointPolicy, EndpointState, EndpointTransition, Store, now_millis,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The most outcomes written in one transaction.
const RECORD_BATCH: usize = 512;

pub(super) async fn record_loop(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    policy: EndpointPolicy,
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
        record_health(store.as_ref(), &metrics, pending, policy).await;
        let now = now_millis();
        loops.progressed(recorder, now);
        if outcomes.is_empty() {
            loops.set_busy(recorder, false, now);
        }
    }
}

/// Applies a recorded batch to its endpoints' health, retrying as outcomes are; a
/// change of state is logged and counted.
async fn record_health(
    store: &dyn Store,
    metrics: &Metrics,
    outcomes: Vec<AttemptOutcome>,
    policy: EndpointPolicy,
) {
    let mut delay = Duration::from_millis(50);
    let transitions = loop {
        match store.record_endpoint_health(outcomes.clone(), policy).await {
            Ok(transitions) => break transitions,
            Err(err) => {
                tracing::error!(error = %err, "recording endpoint health failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    };
    for transition in &transitions {
        report(transition);
        metrics.endpoint_transition(transition.to.as_str(), transition.reason);
    }
}

fn report(transition: &EndpointTransition) {
    let url = super::url_for_log(&transition.url);
    let partner_id = transition.partner_id.as_str();
    let reason = transition.reason;
    match transition.to {
        EndpointState::Open => tracing::warn!(
            partner_id, url = %url, reason,
            "endpoint circuit opened: only one probe per cool-down is sent until it answers"
        ),
        EndpointState::Disabled => tracing::warn!(
            partner_id, url = %url, reason,
            "endpoint disabled: its deliveries wait until an operator enables it \
             (hookit endpoints enable) or the mapping's URL changes"
        ),
        EndpointState::Healthy => tracing::info!(
            partner_id, url = %url, reason,
            "endpoint healthy again: its waiting deliveries go out"
        ),
    }
}
