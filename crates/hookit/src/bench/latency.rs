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
}

/// Runs the latency scenario.
pub async fn run(ctx: &Context, plan: LatencyPlan) -> Result<ScenarioResult, BenchError> {
    let push_size = plan.push_size.clamp(1, super::orders::MAX_PUSH_ITEMS);
    let pushes = ((plan.rate_per_s as f64 * plan.duration.as_secs_f64()) / push_size as f64)
        .ceil()
        .max(1.0) as usize;
    let period = Duration::from_secs_f64(push_size as f64 / plan.rate_per_s.max(1) as f64);
    let tick = plan.tick;
    let bed = Bed::make(
        ctx,
        BedPlan {
            scenario: "latency",
            partners: 1,
            orders: pushes * push_size,
            changes_per_order: 1,
            branches_per_partner: plan.branches,
            timing: true,
            own_process: false,
        },
        |config| config.tick = tick,
    )
    .await?;
    let sent_us: Arc<Vec<AtomicU64>> =
        Arc::new((0..bed.space.orders).map(|_| AtomicU64::new(0)).collect());
    let counters = Arc::new(PushCounters::default());
    let run_id = rand::random::<u64>();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let start = bed.now_us();
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
                &format!("bench-{run_id:016x}-{p}"),
                &counters,
            )
            .await
        });
    }
    let pushing_s = (bed.now_us() - start) as f64 / 1e6;
    let mut pushed = Ok(());
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
    for (index, sent) in sent_us.iter().enumerate() {
        let sent = sent.load(Relaxed);
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
    fn nearest_rank_percentiles() {
        let mut values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&mut values);
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }
}
