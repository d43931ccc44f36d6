//! The end of the demo: what happened, in a table a person reads at a glance, and
//! each guarantee with a check mark or a cross.
//!
//! Numbers come from three places, each saying what it saw: the driver (what was
//! pushed), hookit's operator API and `/metrics` (what it delivered and attempted),
//! and the receiver (what arrived, verified, de-duped and in which order).

use super::client::{DemoError, metric_sum};
use super::driver::Driven;
use super::receiver::Books;
use super::topology::short_name;
use super::trouble::Watch;
use klikit_webhook::EventType;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The operator's replay of a delivery that had already been acknowledged.
#[derive(Debug, Clone)]
pub struct DuplicateReplay {
    pub event_id: String,
    pub ignored: bool,
}

/// Everything the summary is made from.
pub struct Inputs<'a> {
    pub seed: u64,
    pub orders: usize,
    pub elapsed: Duration,
    pub driven: &'a Driven,
    pub books: &'a Books,
    pub deliveries: &'a [Value],
    pub metrics: &'a str,
    pub watch: &'a Watch,
    pub duplicate_replay: Option<&'a DuplicateReplay>,
}

/// One guarantee and whether it held.
struct Check {
    held: bool,
    name: &'static str,
    detail: String,
}

/// The rendered summary and its verdict.
pub struct Summary {
    text: String,
    broken: Vec<String>,
}

impl Summary {
    /// The table, ready to print.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `Err` naming every broken guarantee.
    pub fn verdict(&self) -> Result<(), DemoError> {
        if self.broken.is_empty() {
            Ok(())
        } else {
            Err(format!("guarantee broken: {}", self.broken.join("; ")).into())
        }
    }
}

/// Builds the summary from what the driver, hookit and the receiver saw.
pub fn summarize(inputs: &Inputs<'_>) -> Summary {
    let mut rows = String::new();
    let mut line = |label: &str, value: String, detail: String| {
        rows.push_str(&format!("  {label:<24}{value:>17}   {detail}\n"));
    };
    let Inputs {
        driven,
        books,
        deliveries,
        metrics,
        ..
    } = inputs;
    let changes = driven.changes.len();
    let mut per_type: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut carried, mut largest, mut batches, mut attempts, mut dead_now) = (0, 0, 0, 0, 0);
    for delivery in deliveries.iter() {
        let orders = delivery["order_ids"].as_array().map_or(0, Vec::len);
        carried += orders;
        largest = largest.max(orders);
        batches += usize::from(orders > 1);
        attempts += delivery["attempt_count"].as_u64().unwrap_or_default();
        dead_now += usize::from(delivery["state"] == "dead");
        let event = delivery["event_type"].as_str().unwrap_or("?");
        *per_type.entry(event).or_default() += 1;
    }
    let by_type = EventType::ALL
        .iter()
        .map(|event| {
            let count = per_type.get(event.as_str()).copied().unwrap_or_default();
            let orders = books.per_event.get(event.as_str()).map_or(0, |c| c.1);
            format!("{} {count} ({orders} orders)", short_name(*event))
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let outcome = |name: &str| {
        metric_sum(
            metrics,
            "hookit_delivery_attempts_total",
            &format!("outcome=\"{name}\""),
        ) as u64
    };
    let (acknowledged, failed, died) =
        (outcome("acknowledged"), outcome("failed"), outcome("dead"));
    let latency = Latency::measure(driven, books);

    line(
        "orders",
        inputs.orders.to_string(),
        "2 brands × 3 branches, and a pop-up branch".into(),
    );
    line(
        "order changes ingested",
        changes.to_string(),
        format!(
            "{} via ingest ({} single, {} batch pushes) · {} via the partner API",
            driven.via_ingest, driven.single_pushes, driven.batch_pushes, driven.via_partner
        ),
    );
    line("deliveries", deliveries.len().to_string(), by_type);
    let mean = carried as f64 / deliveries.len().max(1) as f64;
    line(
        "mean batch size",
        format!("{mean:.2}"),
        format!("orders per delivery; {batches} carried several orders, the largest {largest}"),
    );
    line(
        "attempts",
        attempts.to_string(),
        format!(
            "{acknowledged} acknowledged · {failed} failed and retried · {died} gave up (dead)"
        ),
    );
    line(
        "  why attempts failed",
        (books.flaky_failures + books.lost_acks + books.outage_refusals + books.popup_failures)
            .to_string(),
        format!(
            "{} receiver hiccups · {} lost acks · {} while branch POS was down · {} at the pop-up",
            books.flaky_failures, books.lost_acks, books.outage_refusals, books.popup_failures
        ),
    );
    let dead_attempts = inputs
        .watch
        .replayed
        .iter()
        .map(|r| r.attempts_before.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    line(
        "dead → replayed",
        format!("{died} → {}", inputs.watch.replayed.len()),
        format!("dead after {dead_attempts} attempts; {dead_now} still dead now"),
    );
    line(
        "duplicates ignored",
        books.duplicates.to_string(),
        "retries after a lost ack, and a delivered event an operator replayed".into(),
    );
    line(
        "ingest → ack p50 / p99",
        format!("{} / {}", latency.all.0, latency.all.1),
        "every change, pushed to acknowledged, retries and outage included".into(),
    );
    line(
        "  untroubled orders",
        format!("{} / {}", latency.untroubled.0, latency.untroubled.1),
        "orders none of whose deliveries failed an attempt".into(),
    );
    let checks = checks(inputs, changes, latency.delivered, dead_now);
    let mut text = format!(
        "\n  hookit demo — summary (seed {}, {:.1} s)\n  {}\n{rows}",
        inputs.seed,
        inputs.elapsed.as_secs_f64(),
        "─".repeat(74)
    );
    text.push_str("\n  Guarantees\n");
    for check in &checks {
        let mark = if check.held { '✓' } else { '✗' };
        text.push_str(&format!("  {mark} {:<38}{}\n", check.name, check.detail));
    }
    let broken = checks
        .iter()
        .filter(|check| !check.held)
        .map(|check| format!("{} ({})", check.name, check.detail))
        .collect();
    Summary { text, broken }
}

fn checks(inputs: &Inputs<'_>, changes: usize, delivered: usize, dead_now: usize) -> Vec<Check> {
    let Inputs {
        books,
        driven,
        watch,
        ..
    } = inputs;
    let recovered = watch
        .replayed
        .iter()
        .filter(|r| {
            books
                .events
                .get(&r.event_id)
                .is_some_and(|seen| seen.handled)
        })
        .count();
    let mut ordering = format!("{} ordering violations", books.violations);
    if let Some(example) = books.violation_examples.first() {
        ordering.push_str(&format!(", e.g. {example}"));
    }
    if books.orders_without_version > 0 {
        ordering.push_str(&format!(
            ", {} orders without a version",
            books.orders_without_version
        ));
    }
    let duplicate = match inputs.duplicate_replay {
        Some(replay) => format!(
            "{} duplicates ignored, incl. replayed {} ({})",
            books.duplicates,
            replay.event_id,
            if replay.ignored {
                "ignored"
            } else {
                "NOT seen"
            }
        ),
        None => format!(
            "{} duplicates ignored; no replay of a delivered event",
            books.duplicates
        ),
    };
    vec![
        Check {
            held: books.signature_failures == 0
                && books.other_rejections == 0
                && books.verified == books.requests,
            name: "every signature verified",
            detail: format!(
                "signatures verified: {} of {} requests, {} failed",
                books.verified, books.requests, books.signature_failures
            ),
        },
        Check {
            held: delivered == changes && changes > 0,
            name: "every order change delivered",
            detail: format!("{delivered} of {changes} (order, version) acknowledged"),
        },
        Check {
            held: books.violations == 0 && books.orders_without_version == 0,
            name: "per-order ordering",
            detail: ordering,
        },
        Check {
            held: !watch.replayed.is_empty()
                && recovered == watch.replayed.len()
                && dead_now == 0
                && watch.errors.is_empty(),
            name: "dead delivery recovered by replay",
            detail: format!(
                "dead and replayed: {} of {} recovered under the same event id{}",
                recovered,
                watch.replayed.len(),
                watch
                    .errors
                    .first()
                    .map(|e| format!("; operator API error: {e}"))
                    .unwrap_or_default()
            ),
        },
        Check {
            held: inputs.duplicate_replay.is_some_and(|r| r.ignored),
            name: "replayed duplicates ignored",
            detail: duplicate,
        },
        Check {
            held: driven.late_pushes_ignored == driven.late_pushes,
            name: "stale pushes ignored",
            detail: format!(
                "{} of {} late pushes acknowledged and ignored",
                driven.late_pushes_ignored, driven.late_pushes
            ),
        },
        Check {
            held: driven.resends_answered_identically == driven.resends,
            name: "retried ingest push is idempotent",
            detail: format!(
                "{} of {} re-sent batches answered as the first, nothing stored twice",
                driven.resends_answered_identically, driven.resends
            ),
        },
    ]
}

/// Push-to-acknowledgement latency: p50 and p99 over every delivered change, and
/// over the changes of orders that met no trouble (none of their deliveries failed
/// an attempt, so none waited behind a retry of an earlier change).
struct Latency {
    delivered: usize,
    all: (String, String),
    untroubled: (String, String),
}

impl Latency {
    fn measure(driven: &Driven, books: &Books) -> Latency {
        let troubled: HashSet<i64> = books
            .acked
            .iter()
            .filter(|(_, ack)| !ack.first_try)
            .map(|((order, _), _)| *order)
            .collect();
        let mut all = Vec::new();
        let mut untroubled = Vec::new();
        for (key, pushed) in &driven.changes {
            if let Some(ack) = books.acked.get(key) {
                let latency = ack.at.saturating_duration_since(pushed.at);
                all.push(latency);
                if !troubled.contains(&key.0) {
                    untroubled.push(latency);
                }
            }
        }
        Latency {
            delivered: all.len(),
            all: percentiles(&mut all),
            untroubled: percentiles(&mut untroubled),
        }
    }
}

fn percentiles(samples: &mut [Duration]) -> (String, String) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len().saturating_sub(1)) as f64 * q).round() as usize;
        samples.get(index).map_or("—".to_owned(), |d| human(*d))
    };
    (at(0.50), at(0.99))
}

fn human(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}
