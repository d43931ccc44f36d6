//! Prometheus metrics, encoded by `prometheus-client` in the OpenMetrics text format at
//! `GET /metrics`.
//!
//! Counters and histograms live in process memory and count what this process did;
//! the backlog gauges (pending, oldest pending, dead) and the store's commit count are
//! read from the store at scrape time, so every process reports the same truth about
//! shared work. "Partner X is falling behind" is
//! `hookit_oldest_pending_age_seconds{partner_id="X"}` growing. Label values are escaped
//! by the encoder, so no value (an event type, a partner id) can forge a line.

use crate::store::{Millis, PartnerDeliveryStats};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the attempt and latency histograms, in seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the prune write histogram, in seconds: a write that holds the store's
/// writer for more than a few milliseconds delays the dispatcher's tick.
const PRUNE_SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Upper bounds of the batch size histogram, in orders.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    partner_id: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    event_type: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoopLabels {
    r#loop: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointStateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointTransitionLabels {
    to: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerLabels {
    partner_id: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn prune_histogram() -> Histogram {
    Histogram::new(PRUNE_SECONDS_BUCKETS.iter().copied())
}

/// A per-partner gauge read from the store: name, help, and its value for one partner.
type PartnerGauge = (
    &'static str,
    &'static str,
    fn(&PartnerDeliveryStats, Millis) -> f64,
);

/// Every metric hookit keeps in memory, registered once.
pub struct Metrics {
    registry: Registry,
    deliveries: Family<AttemptLabels, Counter>,
    ingested: Family<IngestLabels, Counter>,
    auth_failures: Family<ApiLabels, Counter>,
    stale_outcomes: Counter,
    loops_ok: Family<LoopLabels, Gauge>,
    attempt_seconds: Histogram,
    ack_seconds: Histogram,
    batch_orders: Histogram,
    endpoints: Family<EndpointStateLabels, Gauge>,
    endpoint_transitions: Family<EndpointTransitionLabels, Counter>,
    pruned: Family<KindLabels, Counter>,
    prune_seconds: Family<StepLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let deliveries = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "hookit_delivery_attempts",
            "Delivery attempts by partner and outcome (acknowledged, failed, dead)",
            deliveries.clone(),
        );
        let ingested = Family::<IngestLabels, Counter>::default();
        registry.register(
            "hookit_ingested_changes",
            "Order changes pushed through the ingest API, by event type and result",
            ingested.clone(),
        );
        let auth_failures = Family::<ApiLabels, Counter>::default();
        registry.register(
            "hookit_auth_failures",
            "Refused credentials, by API",
            auth_failures.clone(),
        );
        let stale_outcomes = Counter::default();
        registry.register(
            "hookit_stale_outcomes",
            "Attempt outcomes recorded after their lease was lost, which moved nothing",
            stale_outcomes.clone(),
        );
        let loops_ok = Family::<LoopLabels, Gauge>::default();
        registry.register(
            "hookit_dispatcher_loop_ok",
            "1 while the dispatcher loop makes progress (or has nothing to do), 0 when it is stalled",
            loops_ok.clone(),
        );
        let attempt_seconds = Histogram::new(SECONDS_BUCKETS.iter().copied());
        registry.register(
            "hookit_attempt_duration_seconds",
            "Duration of delivery attempts",
            attempt_seconds.clone(),
        );
        let ack_seconds = Histogram::new(SECONDS_BUCKETS.iter().copied());
        registry.register(
            "hookit_ingest_to_ack_seconds",
            "Time from ingest of the oldest change in a delivery to its acknowledgement",
            ack_seconds.clone(),
        );
        let batch_orders = Histogram::new(BATCH_BUCKETS.iter().copied());
        registry.register(
            "hookit_delivery_batch_orders",
            "Orders per delivery, observed at the first attempt",
            batch_orders.clone(),
        );
        let endpoints = Family::<EndpointStateLabels, Gauge>::default();
        registry.register(
            "hookit_endpoints",
            "Mapped endpoints (partner, URL) by health: healthy, open (circuit open), disabled; \
             read from the store at scrape time",
            endpoints.clone(),
        );
        let endpoint_transitions = Family::<EndpointTransitionLabels, Counter>::default();
        registry.register(
            "hookit_endpoint_transitions",
            "Endpoint health changes this process recorded, by new state and reason",
            endpoint_transitions.clone(),
        );
        let pruned = Family::<KindLabels, Counter>::default();
        registry.register(
            "hookit_pruned",
            "Records removed past their retention, by kind (delivered, dead, orders, tombstones, idempotency_keys)",
            pruned.clone(),
        );
        let prune_seconds =
            Family::<StepLabels, Histogram>::new_with_constructor(prune_histogram as fn() -> _);
        registry.register(
            "hookit_prune_seconds",
            "Duration of each prune write, from asking the store to its commit, by step \
             (batch: one batch of records; reclaim: one slice of freed pages given back)",
            prune_seconds.clone(),
        );
        Metrics {
            pruned,
            prune_seconds,
            registry,
            endpoints,
            endpoint_transitions,
            deliveries,
            ingested,
            auth_failures,
            stale_outcomes,
            loops_ok,
            attempt_seconds,
            ack_seconds,
            batch_orders,
        }
    }
}

impl Metrics {
    /// One finished attempt: `acknowledged`, `failed` (retried later) or `dead` (the
    /// schedule ended).
    pub fn attempt(&self, partner_id: &str, outcome: &'static str, seconds: f64) {
        self.deliveries
            .get_or_create(&AttemptLabels {
                partner_id: partner_id.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.attempt_seconds.observe(seconds);
    }

    /// A first attempt, with how many orders its delivery carries.
    pub fn first_attempt(&self, orders: u32) {
        self.batch_orders.observe(f64::from(orders));
    }

    /// An acknowledgement, `seconds` after the oldest change in it was ingested.
    pub fn acknowledged_after(&self, seconds: f64) {
        self.ack_seconds.observe(seconds);
    }

    /// Order changes pushed through ingest, by event type and result.
    pub fn ingested(&self, event_type: &str, result: &str, count: u64) {
        self.ingested
            .get_or_create(&IngestLabels {
                event_type: event_type.to_owned(),
                result: result.to_owned(),
            })
            .inc_by(count);
    }

    /// A refused credential on one of the APIs (`partner`, `operator`, `ingest`).
    pub fn auth_failure(&self, api: &'static str) {
        self.auth_failures
            .get_or_create(&ApiLabels {
                api: api.to_owned(),
            })
            .inc();
    }

    /// Records of one kind removed past their retention.
    pub fn pruned(&self, kind: &str, count: u64) {
        self.pruned
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc_by(count);
    }

    /// One prune write (`batch` or `reclaim`) that took `seconds` from asking the store
    /// to its commit.
    pub fn prune_write(&self, step: &'static str, seconds: f64) {
        self.prune_seconds
            .get_or_create(&StepLabels {
                step: step.to_owned(),
            })
            .observe(seconds);
    }

    /// Attempt outcomes that arrived after their lease was lost, and so moved nothing.
    pub fn stale_outcomes(&self, count: u64) {
        self.stale_outcomes.inc_by(count);
    }

    /// How many mapped endpoints are in each health state now.
    pub fn endpoint_states(&self, counts: &[(&'static str, i64)]) {
        for (state, count) in counts {
            self.endpoints
                .get_or_create(&EndpointStateLabels {
                    state: (*state).to_owned(),
                })
                .set(*count);
        }
    }

    /// An endpoint changed state (`open`, `healthy`, `disabled`) for `reason`.
    pub fn endpoint_transition(&self, to: &str, reason: &str) {
        self.endpoint_transitions
            .get_or_create(&EndpointTransitionLabels {
                to: to.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Whether the dispatcher loop `name` (`batcher`, `claimer`, `recorder`) is making
    /// progress.
    pub fn dispatcher_loop(&self, name: &str, ok: bool) {
        self.loops_ok
            .get_or_create(&LoopLabels {
                r#loop: name.to_owned(),
            })
            .set(i64::from(ok));
    }

    /// The whole exposition: in-memory metrics, then what was read from the store (the
    /// backlog gauges and, where the backend counts them, its commits).
    pub fn render(
        &self,
        stats: &[PartnerDeliveryStats],
        now: Millis,
        commits: Option<u64>,
    ) -> String {
        let scraped = scrape_registry(stats, now, commits);
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &scraped);
        let _ = encode_eof(&mut out);
        out
    }
}

/// A registry made for one scrape: the values the store holds now.
fn scrape_registry(stats: &[PartnerDeliveryStats], now: Millis, commits: Option<u64>) -> Registry {
    let mut registry = Registry::default();
    let gauges: [PartnerGauge; 4] = [
        (
            "hookit_pending_deliveries",
            "Deliveries not yet acknowledged nor dead, by partner",
            |s, _| s.pending as f64,
        ),
        (
            "hookit_queued_changes",
            "Routed order changes waiting to be batched, by partner",
            |s, _| s.queued as f64,
        ),
        (
            "hookit_oldest_pending_age_seconds",
            "Age of the oldest pending delivery or queued change, by partner (0 when none)",
            |s, now| {
                s.oldest_pending_at
                    .map_or(0.0, |at| ((now - at).max(0) as f64) / 1000.0)
            },
        ),
        (
            "hookit_dead_deliveries",
            "Deliveries whose retry schedule ended (or whose mapping was deleted), by partner",
            |s, _| s.dead as f64,
        ),
    ];
    for (name, help, value) in gauges {
        let family = Family::<PartnerLabels, FloatGauge>::default();
        for stat in stats {
            family
                .get_or_create(&PartnerLabels {
                    partner_id: stat.partner_id.clone(),
                })
                .set(value(stat, now));
        }
        registry.register(name, help, family);
    }
    if let Some(commits) = commits {
        let counter = Counter::<u64>::default();
        counter.inc_by(commits);
        registry.register(
            "hookit_store_commits",
            "Store commits; each holds one or more concurrent writes (group commit)",
            counter,
        );
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.attempt("prt_a", "acknowledged", 0.02);
        metrics.attempt("prt_a", "failed", 3.0);
        metrics.first_attempt(7);
        metrics.auth_failure("partner");
        let stats = [PartnerDeliveryStats {
            partner_id: "prt_a".into(),
            pending: 3,
            queued: 1,
            oldest_pending_at: Some(1_000),
            dead: 2,
        }];
        let text = metrics.render(&stats, 11_000, Some(7));
        assert!(
            text.contains(
                r#"hookit_delivery_attempts_total{partner_id="prt_a",outcome="acknowledged"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_attempt_duration_seconds_bucket{le="0.025"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_attempt_duration_seconds_bucket{le="+Inf"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_delivery_batch_orders_bucket{le="10.0"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_oldest_pending_age_seconds{partner_id="prt_a"} 10.0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_dead_deliveries{partner_id="prt_a"} 2.0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_auth_failures_total{api="partner"} 1"#),
            "{text}"
        );
        assert!(text.contains("hookit_store_commits_total 7"), "{text}");
        assert!(text.ends_with("# EOF\n"), "one exposition, closed: {text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.ingested("evil\"} 1\nhookit_forged 2\\", "stored", 1);
        metrics.dispatcher_loop("claimer", false);
        metrics.dispatcher_loop("batcher", true);
        metrics.stale_outcomes(2);
        let stats = [PartnerDeliveryStats {
            partner_id: "prt_\"x\ny".into(),
            pending: 1,
            queued: 0,
            oldest_pending_at: None,
            dead: 0,
        }];
        let text = metrics.render(&stats, 0, None);
        assert!(
            text.contains(
                r#"hookit_ingested_changes_total{event_type="evil\"} 1\nhookit_forged 2\\",result="stored"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_pending_deliveries{partner_id="prt_\"x\ny"} 1.0"#),
            "{text}"
        );
        assert!(
            !text.lines().any(|line| line.starts_with("hookit_forged")),
            "a label value cannot start a line: {text}"
        );
        assert!(
            text.contains(r#"hookit_dispatcher_loop_ok{loop="claimer"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_dispatcher_loop_ok{loop="batcher"} 1"#),
            "{text}"
        );
        assert!(text.contains("hookit_stale_outcomes_total 2"), "{text}");
    }
}
