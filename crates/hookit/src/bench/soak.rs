//! The `soak` scenario: a steady stream of new orders for a long time with every
//! retention (`HOOKIT_RETAIN_*`) set to minutes, so the pruner removes as much as
//! arrives. It samples the database's size on disk (SQLite: the file with its WAL;
//! PostgreSQL: the scenario schema's tables and indexes, as the backlog scenario counts) and
//! the process's resident memory, and reports whether both stay flat — within 10 % —
//! over the last three retention periods, and the p99 from ingest to first attempt
//! while pruning runs (orders sent after the first retention period) beside the same
//! run's figure before it, when there was nothing to prune. It also reads how long
//! each prune write took out of the server's `hookit_prune_seconds`.
//!
//! The server runs in the bench's process, so the resident set includes the load
//! generator and the receiver; their per-order tables are allocated whole at start,
//! so growth over the run is the server's.

use super::BenchError;
use super::bed::{Bed, BedPlan, Context};
use super::latency::{FIRST_ATTEMPT_SLACK_MS, Percentiles};
use super::orders::{PushCounters, push};
use super::report::{ScenarioResult, round};
use crate::store::RetentionPolicy;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// How much the sampled figures may vary over the last three retention periods.
const FLAT_WITHIN: f64 = 0.10;

/// Sizes of a soak run.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    pub duration: Duration,
    pub rate_per_s: usize,
    pub push_size: usize,
    pub branches: usize,
    pub tick: Duration,
    /// Every `HOOKIT_RETAIN_*` setting.
    pub retention: Duration,
    /// How often the size and memory are sampled.
    pub sample_every: Duration,
}

/// One sample: seconds since the start, database bytes (when known), resident MiB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: f64,
    database_bytes: Option<u64>,
    rss_mib: Option<f64>,
}

/// Runs the soak scenario.
pub async fn run(ctx: &Context, plan: SoakPlan) -> Result<ScenarioResult, BenchError> {
    let push_size = plan.push_size.clamp(1, super::orders::MAX_PUSH_ITEMS);
    let pushes = ((plan.rate_per_s as f64 * plan.duration.as_secs_f64()) / push_size as f64)
        .ceil()
        .max(1.0) as usize;
    let period = Duration::from_secs_f64(push_size as f64 / plan.rate_per_s.max(1) as f64);
    let retention = plan.retention;
    // The pruner looks a dozen times per retention period, at most once a second.
    let prune_interval =
        (retention / 12).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let bed = Bed::make(
        ctx,
        BedPlan {
            scenario: "soak",
            partners: 1,
            orders: pushes * push_size,
            changes_per_order: 1,
            branches_per_partner: plan.branches,
            timing: true,
            own_process: false,
            route_weights: None,
        },
        |config| {
            config.tick = plan.tick;
            config.retention.policy = RetentionPolicy {
                delivered: retention,
                dead: retention,
                orders: retention,
                idempotency_keys: retention,
            };
            config.retention.prune_interval = prune_interval;
        },
    )
    .await?;

    let start = bed.now_us();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = spawn_sampler(&bed, start, plan.sample_every, &sampling);
    let sent_us: Arc<Vec<AtomicU64>> =
        Arc::new((0..bed.space.orders).map(|_| AtomicU64::new(0)).collect());
    let counters = Arc::new(PushCounters::default());
    let run_id = rand::random::<u64>();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut pushed: Result<(), BenchError> = Ok(());
    for p in 0..pushes {
        ticker.tick().await;
        let (system, space, sent_us, counters, tracker) = (
            Arc::clone(&bed.system),
            Arc::clone(&bed.space),
            Arc::clone(&sent_us),
            Arc::clone(&counters),
            Arc::clone(&bed.tracker),
        );
        tasks.spawn(async move {
            let orders = p * push_size..(p + 1) * push_size;
            let items: Vec<String> = orders.clone().map(|i| space.item(i, 0)).collect();
            let now = tracker.now_us();
            for i in orders {
                sent_us[i].store(now, Relaxed);
            }
            push(
                &system,
                &items,
                &format!("soak-{run_id:016x}-{p}"),
                &counters,
            )
            .await
        });
        // Finished pushes are collected as the run goes, so they hold no memory.
        while let Some(joined) = tasks.try_join_next() {
            if let Err(err) = flatten(joined) {
                pushed = Err(err);
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = flatten(joined) {
            pushed = Err(err);
        }
    }
    let pushing_s = (bed.now_us() - start) as f64 / 1e6;
    let waited = match pushed {
        Ok(()) => bed.await_all(ctx, None).await,
        Err(err) => Err(err),
    };
    sampling.store(false, Relaxed);
    let samples = sampler.await.unwrap_or_default();
    let prune_writes = bed
        .system
        .metrics()
        .await
        .map(|text| prune_write_times(&text))
        .unwrap_or_default();

    // First attempts of orders sent once the first retention period had passed, when
    // the pruner was removing as much as arrived.
    // Those sent before it, when nothing was past its retention yet, are the same
    // run's figure without pruning.
    let pruning_from_us = start + retention.as_micros() as u64;
    let (mut first_attempt, mut before_pruning) = (Vec::new(), Vec::new());
    for (index, sent) in sent_us.iter().enumerate() {
        let sent = sent.load(Relaxed);
        if let Some((seen, _)) = bed.tracker.timing(index).filter(|_| sent > 0) {
            let took_ms = seen.saturating_sub(sent) as f64 / 1e3;
            if sent < pruning_from_us {
                before_pruning.push(took_ms);
            } else {
                first_attempt.push(took_ms);
            }
        }
    }
    let first = Percentiles::of(&mut first_attempt);
    let unpruned = Percentiles::of(&mut before_pruning);
    let target = plan.tick.as_secs_f64() * 1e3 + FIRST_ATTEMPT_SLACK_MS;

    let mut result = ScenarioResult::new("soak");
    bed.common_fields(&mut result);
    result.field("rate_per_s", plan.rate_per_s as u64);
    result.field("duration_s", round(plan.duration.as_secs_f64(), 1));
    result.field("retention_s", round(retention.as_secs_f64(), 1));
    result.field("prune_interval_ms", prune_interval.as_millis() as u64);
    result.field("tick_ms", plan.tick.as_millis() as u64);
    result.field("pushing_s", round(pushing_s, 1));
    result.field(
        "achieved_rate_per_s",
        round(counters.items.load(Relaxed) as f64 / pushing_s.max(1e-9), 1),
    );
    result.field("first_attempt_while_pruning_ms_p50", round(first.p50, 1));
    result.field("first_attempt_while_pruning_ms_p99", round(first.p99, 1));
    result.field(
        "first_attempt_while_pruning_samples",
        first_attempt.len() as u64,
    );
    result.field(
        "first_attempt_before_pruning_ms_p50",
        round(unpruned.p50, 1),
    );
    result.field(
        "first_attempt_before_pruning_ms_p99",
        round(unpruned.p99, 1),
    );
    result.field(
        "first_attempt_before_pruning_samples",
        before_pruning.len() as u64,
    );
    // How long each prune write took, from asking the store to its commit (the
    // server's `hookit_prune_seconds`), per step: the time ingest and the dispatcher
    // may wait behind one.
    result.field(
        "prune_writes",
        serde_json::Value::Object(
            prune_writes
                .iter()
                .map(|(step, times)| (step.clone(), times.summary()))
                .collect(),
        ),
    );
    result.field(
        "samples",
        serde_json::Value::Array(
            samples
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "at_s": round(s.at_s, 1),
                        "database_mib": s.database_bytes.map(|b| round(b as f64 / 1048576.0, 2)),
                        "rss_mib": s.rss_mib.map(|m| round(m, 1)),
                    })
                })
                .collect(),
        ),
    );
    result.row(
        "p99 ingest→first attempt, pruning",
        format!("{:.1} ms", first.p99),
        &format!("≤ {target:.0} ms"),
        (!first_attempt.is_empty()).then_some(first.p99 <= target),
    );
    let window_from = plan.duration.as_secs_f64() - 3.0 * retention.as_secs_f64();
    let enough = window_from >= retention.as_secs_f64();
    let last: Vec<&Sample> = samples.iter().filter(|s| s.at_s >= window_from).collect();
    let database_mib: Vec<f64> = last
        .iter()
        .filter_map(|s| s.database_bytes.map(|b| b as f64 / 1048576.0))
        .collect();
    let rss: Vec<f64> = last.iter().filter_map(|s| s.rss_mib).collect();
    for (metric, values) in [
        ("database size, last 3 retentions", &database_mib),
        ("resident memory, last 3 retentions", &rss),
    ] {
        let Some((low, high)) = range(values) else {
            result.row(metric, "not sampled".into(), "flat within 10 %", None);
            continue;
        };
        let spread = (high - low) / high.max(1e-9);
        result.row(
            metric,
            format!("{low:.1}–{high:.1} MiB ({:.1} %)", spread * 100.0),
            "flat within 10 %",
            enough.then_some(spread <= FLAT_WITHIN),
        );
    }
    if !enough {
        result.field(
            "flatness",
            "not judged: the run must last at least four retention periods",
        );
    }
    result.problems = bed.problems();
    if let Err(err) = waited {
        result.problems.insert(0, err.to_string());
    }
    bed.stop().await;
    Ok(result)
}

fn flatten(
    joined: Result<Result<(), BenchError>, tokio::task::JoinError>,
) -> Result<(), BenchError> {
    joined.map_err(|err| BenchError::from(format!("an ingest client failed: {err}")))?
}

/// One step's prune writes as the server's histogram counted them.
#[derive(Debug, Default)]
struct WriteTimes {
    count: u64,
    sum_s: f64,
    /// Cumulative counts by upper bound, in seconds, as exposed.
    buckets: Vec<(f64, u64)>,
}

impl WriteTimes {
    /// The upper bound of the bucket holding the `q` quantile, in milliseconds.
    fn at_most_ms(&self, q: f64) -> Option<f64> {
        let rank = (q * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, below)| *below >= rank.max(1))
            .map(|(le, _)| le * 1e3)
    }

    fn summary(&self) -> serde_json::Value {
        let ms = |v: Option<f64>| v.filter(|v| v.is_finite()).map(|v| round(v, 1));
        serde_json::json!({
            "count": self.count,
            "total_s": round(self.sum_s, 2),
            "mean_ms": round(self.sum_s * 1e3 / (self.count.max(1) as f64), 2),
            "p50_at_most_ms": ms(self.at_most_ms(0.5)),
            "p99_at_most_ms": ms(self.at_most_ms(0.99)),
            "max_at_most_ms": ms(self.at_most_ms(1.0)),
        })
    }
}

/// Reads `hookit_prune_seconds{step}` out of a `/metrics` exposition.
fn prune_write_times(exposition: &str) -> std::collections::BTreeMap<String, WriteTimes> {
    let mut steps = std::collections::BTreeMap::<String, WriteTimes>::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("hookit_prune_seconds_") else {
            continue;
        };
        let Some((series, value)) = rest.split_once(' ') else {
            continue;
        };
        let (Some(step), Ok(value)) = (label(series, "step"), value.trim().parse::<f64>()) else {
            continue;
        };
        let times = steps.entry(step.to_owned()).or_default();
        if series.starts_with("bucket") {
            let le = match label(series, "le") {
                Some("+Inf") => f64::INFINITY,
                Some(le) => le.parse().unwrap_or(f64::INFINITY),
                None => continue,
            };
            times.buckets.push((le, value as u64));
        } else if series.starts_with("count") {
            times.count = value as u64;
        } else if series.starts_with("sum") {
            times.sum_s = value;
        }
    }
    for times in steps.values_mut() {
        times.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    steps
}

/// The value of label `name` in a series' `{…}`.
fn label<'a>(series: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let start = series.find(&key)? + key.len();
    let len = series[start..].find('"')?;
    Some(&series[start..start + len])
}

/// The lowest and highest of `values`, if any.
fn range(values: &[f64]) -> Option<(f64, f64)> {
    let low = values.iter().copied().reduce(f64::min)?;
    let high = values.iter().copied().reduce(f64::max)?;
    Some((low, high))
}

/// Samples every `every` until `running` turns false; times count from `start`.
fn spawn_sampler(
    bed: &Bed,
    start: u64,
    every: Duration,
    running: &Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Sample>> {
    let (tracker, running, system) = (
        Arc::clone(&bed.tracker),
        Arc::clone(running),
        Arc::clone(&bed.system),
    );
    tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut ticker = tokio::time::interval(every);
        while running.load(Relaxed) {
            ticker.tick().await;
            let at_s = tracker.now_us().saturating_sub(start) as f64 / 1e6;
            // A size that cannot be read this time is left out of the sample.
            let database_bytes = system.database_bytes().await.ok().map(|size| size.bytes);
            samples.push(Sample {
                at_s,
                database_bytes,
                rss_mib: super::memory::rss_mib(),
            });
        }
        samples
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_prune_write_histogram_from_an_exposition() {
        let text = "# TYPE hookit_prune_seconds histogram
hookit_prune_seconds_sum{step=\"batch\"} 0.5
hookit_prune_seconds_count{step=\"batch\"} 100
hookit_prune_seconds_bucket{le=\"0.001\",step=\"batch\"} 10
hookit_prune_seconds_bucket{le=\"0.005\",step=\"batch\"} 98
hookit_prune_seconds_bucket{le=\"0.01\",step=\"batch\"} 100
hookit_prune_seconds_bucket{le=\"+Inf\",step=\"batch\"} 100
hookit_pruned_total{kind=\"orders\"} 7
";
        let steps = prune_write_times(text);
        let batch = &steps["batch"];
        assert_eq!((batch.count, batch.sum_s), (100, 0.5));
        assert_eq!(batch.at_most_ms(0.5).map(|v| round(v, 1)), Some(5.0));
        assert_eq!(batch.at_most_ms(0.99).map(|v| round(v, 1)), Some(10.0));
        assert_eq!(steps.len(), 1, "only the prune histogram is read");
    }
}
