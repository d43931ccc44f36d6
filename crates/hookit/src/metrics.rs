//! Prometheus metrics, rendered in the text exposition format at `GET /metrics`.
//!
//! Counters and histograms live in process memory and count what this process did;
//! the backlog gauges (pending, oldest pending, dead) are read from the store at scrape
//! time, so every process reports the same truth about shared work. "Partner X is
//! falling behind" is `hookit_oldest_pending_age_seconds{partner_id="X"}` growing.

use crate::store::{Millis, PartnerDeliveryStats};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the attempt and latency histograms, in seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the batch size histogram, in orders.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// A histogram with fixed buckets.
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum of observations, in millionths, so it fits an atomic integer.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: f64) {
        if let Some(index) = self.bounds.iter().position(|bound| value <= *bound) {
            self.counts[index].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
    }
}

/// Labelled counters, rendered sorted so scrapes are stable.
#[derive(Default)]
struct Counters(Mutex<BTreeMap<Vec<(&'static str, String)>, u64>>);

impl Counters {
    fn add(&self, labels: Vec<(&'static str, String)>, by: u64) {
        // Only integers live behind this lock, held for an insert; a poisoned lock
        // still holds valid counts.
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(labels).or_default() += by;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (labels, value) in counts.iter() {
            let _ = writeln!(out, "{name}{} {value}", label_text(labels));
        }
    }
}

fn label_text(labels: &[(&'static str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}=\"{}\"", escape_label_value(value)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value as the exposition format requires: `\`, `"` and line feeds escaped,
/// so no value can end its line or its quotes early.
fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Every metric hookit keeps in memory.
pub struct Metrics {
    deliveries: Counters,
    ingested: Counters,
    auth_failures: Counters,
    stale_outcomes: Counters,
    /// 1 or 0 per dispatcher loop (`batcher`, `claimer`, `recorder`).
    loops_ok: Mutex<BTreeMap<String, u8>>,
    attempt_seconds: Histogram,
    ack_seconds: Histogram,
    batch_orders: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            deliveries: Counters::default(),
            ingested: Counters::default(),
            auth_failures: Counters::default(),
            stale_outcomes: Counters::default(),
            loops_ok: Mutex::default(),
            attempt_seconds: Histogram::new(SECONDS_BUCKETS),
            ack_seconds: Histogram::new(SECONDS_BUCKETS),
            batch_orders: Histogram::new(BATCH_BUCKETS),
        }
    }
}

impl Metrics {
    /// One finished attempt: `outcome` is `acknowledged`, `failed` (will retry) or
    /// `dead` (the schedule ended).
    pub fn attempt(&self, partner_id: &str, outcome: &'static str, seconds: f64) {
        self.deliveries.add(
            vec![
                ("partner_id", partner_id.to_owned()),
                ("outcome", outcome.to_owned()),
            ],
            1,
        );
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
        self.ingested.add(
            vec![
                ("event_type", event_type.to_owned()),
                ("result", result.to_owned()),
            ],
            count,
        );
    }

    /// A refused credential on one of the APIs (`partner`, `operator`, `ingest`).
    pub fn auth_failure(&self, api: &'static str) {
        self.auth_failures.add(vec![("api", api.to_owned())], 1);
    }

    /// Attempt outcomes that arrived after their lease was lost, and so moved nothing.
    pub fn stale_outcomes(&self, count: u64) {
        self.stale_outcomes.add(Vec::new(), count);
    }

    /// Whether the dispatcher loop `name` (`batcher`, `claimer`, `recorder`) last ran
    /// without error.
    pub fn dispatcher_loop(&self, name: &str, ok: bool) {
        // Only flags live behind this lock; a poisoned lock still holds valid ones.
        let mut loops = self.loops_ok.lock().unwrap_or_else(|p| p.into_inner());
        loops.insert(name.to_owned(), u8::from(ok));
    }

    /// The whole exposition: in-memory metrics plus the store's backlog gauges.
    pub fn render(&self, stats: &[PartnerDeliveryStats], now: Millis) -> String {
        let mut out = String::with_capacity(4096);
        self.deliveries.render(
            &mut out,
            "hookit_delivery_attempts_total",
            "Delivery attempts by partner and outcome (acknowledged, failed, dead).",
        );
        self.ingested.render(
            &mut out,
            "hookit_ingested_changes_total",
            "Order changes pushed through the ingest API, by event type and result.",
        );
        self.auth_failures.render(
            &mut out,
            "hookit_auth_failures_total",
            "Refused credentials, by API.",
        );
        self.stale_outcomes.render(
            &mut out,
            "hookit_stale_outcomes_total",
            "Attempt outcomes recorded after their lease was lost, which moved nothing.",
        );
        let _ = writeln!(
            out,
            "# HELP hookit_dispatcher_loop_ok 1 while the dispatcher loop runs without error, else 0.\n# TYPE hookit_dispatcher_loop_ok gauge"
        );
        for (name, ok) in self
            .loops_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let labels = label_text(&[("loop", name.clone())]);
            let _ = writeln!(out, "hookit_dispatcher_loop_ok{labels} {ok}");
        }
        self.attempt_seconds.render(
            &mut out,
            "hookit_attempt_duration_seconds",
            "Duration of delivery attempts.",
        );
        self.ack_seconds.render(
            &mut out,
            "hookit_ingest_to_ack_seconds",
            "Time from ingest of the oldest change in a delivery to its acknowledgement.",
        );
        self.batch_orders.render(
            &mut out,
            "hookit_delivery_batch_orders",
            "Orders per delivery, observed at the first attempt.",
        );
        render_gauge(
            &mut out,
            "hookit_pending_deliveries",
            "Deliveries not yet acknowledged nor dead, by partner.",
            stats,
            |s| s.pending as f64,
        );
        render_gauge(
            &mut out,
            "hookit_queued_changes",
            "Routed order changes waiting to be batched, by partner.",
            stats,
            |s| s.queued as f64,
        );
        render_gauge(
            &mut out,
            "hookit_oldest_pending_age_seconds",
            "Age of the oldest pending delivery or queued change, by partner (0 when none).",
            stats,
            |s| {
                s.oldest_pending_at
                    .map_or(0.0, |at| ((now - at).max(0) as f64) / 1000.0)
            },
        );
        render_gauge(
            &mut out,
            "hookit_dead_deliveries",
            "Deliveries whose retry schedule ended (or whose mapping was deleted), by partner.",
            stats,
            |s| s.dead as f64,
        );
        out
    }
}

/// `hookit_store_commits_total`, read from the store at scrape time.
pub fn render_store_commits(out: &mut String, commits: u64) {
    let name = "hookit_store_commits_total";
    let help = "Store commits; each holds one or more concurrent writes (group commit).";
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {commits}"
    );
}

fn render_gauge(
    out: &mut String,
    name: &str,
    help: &str,
    stats: &[PartnerDeliveryStats],
    value: impl Fn(&PartnerDeliveryStats) -> f64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for partner in stats {
        let labels = label_text(&[("partner_id", partner.partner_id.clone())]);
        let _ = writeln!(out, "{name}{labels} {}", value(partner));
    }
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
        let text = metrics.render(&stats, 11_000);
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
            text.contains(r#"hookit_delivery_batch_orders_bucket{le="10"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_oldest_pending_age_seconds{partner_id="prt_a"} 10"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_dead_deliveries{partner_id="prt_a"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_auth_failures_total{api="partner"} 1"#),
            "{text}"
        );
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
        let text = metrics.render(&stats, 0);
        assert!(
            text.contains(
                r#"hookit_ingested_changes_total{event_type="evil\"} 1\nhookit_forged 2\\",result="stored"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"hookit_pending_deliveries{partner_id="prt_\"x\ny"} 1"#),
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
