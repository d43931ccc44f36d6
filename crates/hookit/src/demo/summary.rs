//! The end of the demo: what happened, in a table a person reads at a glance, one
//! delivery as the partner received it, and each guarantee with a check mark, a
//! cross, or — when the run had nothing to show for it ("0 of 0") — "not exercised",
//! never a check mark.
//!
//! Numbers come from three places, each saying what it saw: the driver (what was
//! pushed), hookit's operator API and `/metrics` (what it delivered and attempted),
//! and the receiver (what arrived, verified, de-duped and in which order).

use super::client::{DemoError, metric_sum};
use super::driver::Driven;
use super::receiver::{Books, Sample};
use super::topology::short_name;
use super::trouble::Watch;
use checks::{Mark, checks, checks_text};

mod checks;
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
    /// The rotation of the webhook secret: `Err` with the operator API's answer.
    pub rotation: Result<(), String>,
    /// Whether hookit recorded the slow handler's attempt as a timeout.
    pub slow_timeout_recorded: bool,
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
    if let Some(sample) = &books.sample {
        text.push_str(&sample_text(sample));
    }
    text.push_str(&checks_text(&checks));
    let broken = checks
        .iter()
        .filter(|check| check.mark == Mark::Broken)
        .map(|check| format!("{} ({})", check.name, check.detail))
        .collect();
    Summary { text, broken }
}

/// The longest body shown; the rest is summarised.
const SAMPLE_BODY_SHOWN: usize = 700;

/// One delivery as the partner's endpoint received it: path, headers, raw body.
fn sample_text(sample: &Sample) -> String {
    let mut text = format!(
        "\n  One delivery, as the partner received it\n    POST {}\n",
        sample.path
    );
    for (name, value) in &sample.headers {
        text.push_str(&format!("    {name}: {value}\n"));
    }
    let body = String::from_utf8_lossy(&sample.body);
    let shown: String = body.chars().take(SAMPLE_BODY_SHOWN).collect();
    text.push_str(&format!("\n    {shown}"));
    if shown.len() < body.len() {
        text.push_str(&format!(" … ({} bytes in all)", sample.body.len()));
    }
    text.push('\n');
    text
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
