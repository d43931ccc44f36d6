//! The `latency` scenario: a steady stream of new orders (by default 1,000/s in pushes
//! of 10 every 10 ms) and, per order, the time from the client sending it to the
//! receiver first seeing it (first attempt) and to the receiver acknowledging it.

use super::BenchError;
use super::bed::{Bed, BedPlan, Context};
use super::orders::{PushCounters, push};
use super::report::{ScenarioResult, round};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// SPEC §8: p99 ingest-to-first-attempt at most one tick plus this.
pub const FIRST_ATTEMPT_SLACK_MS: f64 = 25.0;

/// Sizes of a latency run.
#[derive(Debug, Clone)]
pub struct LatencyPlan {
    pub duration: Duration,
    pub rate_per_s: usize,
    pub push_size: usize,
    pub branches: usize,
    pub tick: Duration,
    /// A concurrent one-change-per-request load for another partner.
    pub background: Option<Background>,
}

/// The concurrent load of `--background-rate`.
#[derive(Debug, Clone)]
pub struct Background {
    pub rate_per_s: usize,
    pub connections: usize,
}

/// Which order indices belong to the measured stream and which to the background:
/// per cycle of `measured + background` indices, the first `measured` are measured.
#[derive(Debug, Clone, Copy)]
struct Split {
    measured: usize,
    background: usize,
}

impl Split {
    /// The index of the `k`-th measured order.
    fn measured_index(self, k: usize) -> usize {
        (k / self.measured) * (self.measured + self.background) + k % self.measured
    }

    /// The index of the `k`-th background order.
    fn background_index(self, k: usize) -> usize {
        (k / self.background) * (self.measured + self.background)
            + self.measured
            + k % self.background
    }
}

/// Small whole numbers in the ratio `rate : background` (to the nearest 1 %).
fn split_for(rate: usize, background: usize) -> Split {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let unit = (rate / 100).max(1);
    let (a, c) = ((rate / unit).max(1), (background / unit).max(1));
    let g = gcd(a, c);
    Split {
        measured: a / g,
        background: c / g,
    }
}

/// Runs the latency scenario.
pub async fn run(ctx: &Context, plan: LatencyPlan) -> Result<ScenarioResult, BenchError> {
    let push_size = plan.push_size.clamp(1, super::orders::MAX_PUSH_ITEMS);
    let pushes = ((plan.rate_per_s as f64 * plan.duration.as_secs_f64()) / push_size as f64)
        .ceil()
        .max(1.0) as usize;
    let period = Duration::from_secs_f64(push_size as f64 / plan.rate_per_s.max(1) as f64);
    let tick = plan.tick;
    let measured = pushes * push_size;
    let split = plan
        .background
        .as_ref()
        .map(|bg| split_for(plan.rate_per_s, bg.rate_per_s));
    // The background's orders fill the cycles the measured stream spans.
    let (orders, background_orders) = match split {
        None => (measured, 0),
        Some(split) => {
            let cycles = measured.div_ceil(split.measured);
            let orders = cycles * (split.measured + split.background);
            (orders, orders - measured)
        }
    };
    let bed = Bed::make(
        ctx,
        BedPlan {
            scenario: "latency",
            partners: if split.is_some() { 2 } else { 1 },
            orders,
            changes_per_order: 1,
            branches_per_partner: plan.branches,
            timing: true,
            own_process: false,
            route_weights: split.map(|split| vec![split.measured, split.background]),
        },
        |config| config.tick = tick,
    )
    .await?;
    // The measured stream's order `k` is at `index(k)` of the space.
    let index = move |k: usize| split.map_or(k, |split| split.measured_index(k));
    let sent_us: Arc<Vec<AtomicU64>> =
        Arc::new((0..bed.space.orders).map(|_| AtomicU64::new(0)).collect());
    let counters = Arc::new(PushCounters::default());
    let run_id = rand::random::<u64>();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let start = bed.now_us();
    let background = match (&plan.background, split) {
        (Some(bg), Some(split)) => Some(spawn_background(
            &bed,
            bg,
            split,
            background_orders,
            &counters,
        )),
        _ => None,
    };
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
            let orders: Vec<usize> = (p * push_size..(p + 1) * push_size).map(index).collect();
            let items: Vec<String> = orders.iter().map(|&i| space.item(i, 0)).collect();
            let now = tracker.now_us();
            for &i in &orders {
                sent_us[i].store(now, Relaxed);
            }
            push(
                &system,
                &items,
                &format!("bench-{run_id:016x}-{p}"),
                &counters,
            )
            .await
        });
    }
    let pushing_s = (bed.now_us() - start) as f64 / 1e6;
    let mut pushed = Ok(());
    let mut background_s = None;
    if let Some(background) = background {
        match background.await {
            Ok(Ok(seconds)) => background_s = Some(seconds),
            Ok(Err(err)) => pushed = Err(err),
            Err(err) => pushed = Err(format!("the background load failed: {err}").into()),
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined
            .map_err(|err| BenchError::from(format!("an ingest client failed: {err}")))
            .and_then(|inner| inner)
        {
            pushed = Err(err);
        }
    }
    let waited = match pushed {
        Ok(()) => bed.await_all(ctx, None).await,
        Err(err) => Err(err),
    };

    let mut first_attempt = Vec::with_capacity(bed.space.orders);
    let mut acked = Vec::with_capacity(bed.space.orders);
    for k in 0..measured {
        let index = index(k);
        let sent = sent_us[index].load(Relaxed);
        if let Some((seen, ack)) = bed.tracker.timing(index).filter(|_| sent > 0) {
            first_attempt.push(seen.saturating_sub(sent) as f64 / 1e3);
            acked.push(ack.saturating_sub(sent) as f64 / 1e3);
        }
    }
    let first = Percentiles::of(&mut first_attempt);
    let ack = Percentiles::of(&mut acked);
    let target = tick.as_secs_f64() * 1e3 + FIRST_ATTEMPT_SLACK_MS;

    let mut result = ScenarioResult::new("latency");
    bed.common_fields(&mut result);
    result.field("tick_ms", tick.as_millis() as u64);
    result.field("rate_per_s", plan.rate_per_s as u64);
    result.field("push_size", push_size as u64);
    result.field("pushing_s", round(pushing_s, 3));
    result.field(
        "achieved_rate_per_s",
        round(counters.items.load(Relaxed) as f64 / pushing_s.max(1e-9), 1),
    );
    if let (Some(bg), Some(seconds)) = (&plan.background, background_s) {
        let achieved = background_orders as f64 / seconds.max(1e-9);
        result.field("background_rate_per_s", bg.rate_per_s as u64);
        result.field("background_achieved_per_s", round(achieved, 1));
        result.field("background_changes", background_orders as u64);
        result.row("background_per_s", format!("{achieved:.0}"), "", None);
    }
    result.field("ingest_retries", counters.retries.load(Relaxed));
    result.field("samples", first_attempt.len() as u64);
    // The headline figures are ingest-to-ack (SPEC §8 "p50/p99 ingest-to-ack").
    for (name, value) in [
        ("p50_ms", ack.p50),
        ("p95_ms", ack.p95),
        ("p99_ms", ack.p99),
        ("max_ms", ack.max),
    ] {
        result.field(name, round(value, 2));
    }
    for (name, value) in [
        ("first_attempt_p50_ms", first.p50),
        ("first_attempt_p95_ms", first.p95),
        ("first_attempt_p99_ms", first.p99),
        ("first_attempt_max_ms", first.max),
    ] {
        result.field(name, round(value, 2));
    }
    result.field("first_attempt_target_ms", target);
    result.row(
        "first_attempt_p99_ms",
        format!("{:.1}", first.p99),
        &format!("≤ {target:.0}"),
        Some(first.p99 <= target),
    );
    result.row(
        "first_attempt_p50_ms",
        format!("{:.1}", first.p50),
        "",
        None,
    );
    result.row("ack_p50_ms", format!("{:.1}", ack.p50), "", None);
    result.row("ack_p95_ms", format!("{:.1}", ack.p95), "", None);
    result.row("ack_p99_ms", format!("{:.1}", ack.p99), "", None);
    if let Err(err) = waited {
        result.problems.push(err.to_string());
    }
    result.problems.extend(bed.problems());
    bed.stop().await;
    Ok(result)
}

/// Sends the background partner's orders one per request over `bg.connections`
/// keep-alive connections, paced to `bg.rate_per_s` in all; answers the seconds it took.
fn spawn_background(
    bed: &Bed,
    bg: &Background,
    split: Split,
    orders: usize,
    counters: &Arc<PushCounters>,
) -> tokio::task::JoinHandle<Result<f64, BenchError>> {
    let connections = bg.connections.min(orders).max(1);
    let period = Duration::from_secs_f64(connections as f64 / bg.rate_per_s.max(1) as f64);
    let (system, space, tracker, counters) = (
        Arc::clone(&bed.system),
        Arc::clone(&bed.space),
        Arc::clone(&bed.tracker),
        Arc::clone(counters),
    );
    tokio::spawn(async move {
        let run_id = rand::random::<u64>();
        let started = tracker.now_us();
        let mut tasks = tokio::task::JoinSet::new();
        for connection in 0..connections {
            let (system, space) = (Arc::clone(&system), Arc::clone(&space));
            let counters = Arc::clone(&counters);
            tasks.spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .timeout(Duration::from_secs(120))
                    .build()
                    .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
                let mut ticker = tokio::time::interval(period);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                for k in (connection..orders).step_by(connections) {
                    ticker.tick().await;
                    let index = split.background_index(k);
                    let key = format!("bench-bg-{run_id:016x}-{index}");
                    let (data, retries) = system
                        .ingest_one(&http, &space.item(index, 0), &key)
                        .await?;
                    counters.retries.fetch_add(u64::from(retries), Relaxed);
                    if data["result"] != "stored" || data["routed_to"] != 1 {
                        return Err(BenchError::from(format!(
                            "ingest did not store and route background order {}: {data}",
                            space.first_id + index as i64
                        )));
                    }
                }
                Ok(())
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(|err| format!("a background connection failed: {err}"))??;
        }
        Ok((tracker.now_us() - started) as f64 / 1e6)
    })
}

/// Nearest-rank percentiles of a sample, in its unit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Sorts `values` and reads the percentiles (all zero when empty).
    pub fn of(values: &mut [f64]) -> Percentiles {
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let n = values.len();
            if n == 0 {
                return 0.0;
            }
            let index = ((p / 100.0) * n as f64).ceil() as usize;
            values[index.clamp(1, n) - 1]
        };
        Percentiles {
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: rank(100.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_gives_each_stream_its_share_of_indices() {
        let split = split_for(1_000, 2_150);
        assert_eq!((split.measured, split.background), (20, 43));
        let measured: Vec<usize> = (0..25).map(|k| split.measured_index(k)).collect();
        assert_eq!(measured[19], 19);
        assert_eq!(
            measured[20], 63,
            "the next cycle starts after 43 background ones"
        );
        let background: Vec<usize> = (0..44).map(|k| split.background_index(k)).collect();
        assert_eq!(
            (background[0], background[42], background[43]),
            (20, 62, 83)
        );
        let mut all: Vec<usize> = (0..40).map(|k| split.measured_index(k)).collect();
        all.extend((0..86).map(|k| split.background_index(k)));
        all.sort_unstable();
        assert_eq!(
            all,
            (0..126).collect::<Vec<_>>(),
            "together they cover every index once"
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&mut values);
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }
}
