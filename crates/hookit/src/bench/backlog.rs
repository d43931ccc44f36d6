//! The `backlog` scenario: a partner's receiver is down (it answers every delivery
//! with 503 and no `Retry-After`) while a large number of order changes is ingested;
//! then it comes back and the backlog drains. Reports the process's resident memory
//! (peak and at the end of building) and the drain time.
//!
//! The server's retry schedule is a long run of 500 ms delays, so no delivery dies
//! while the receiver is down and draining starts within about half a second of its
//! return. While down, every formed delivery is retried every ~500 ms — the backlog is
//! built under retry pressure, as it would be in production.

use super::BenchError;
use super::bed::{Bed, BedPlan, Context};
use super::memory;
use super::orders::{PushCounters, push_all};
use super::report::{ScenarioResult, grouped, round};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// SPEC §8: resident memory with a backlog of one million pending events.
pub const MEMORY_TARGET_MIB: f64 = 150.0;
/// The delay between attempts while the receiver is down.
pub const RETRY_DELAY: Duration = Duration::from_millis(500);
/// Retries in the schedule: 500 ms × 20,000 ≈ 2.8 hours before a delivery would die.
const RETRY_STEPS: usize = 20_000;

/// Sizes of a backlog run.
#[derive(Debug, Clone)]
pub struct BacklogPlan {
    /// Pending order changes to build up.
    pub events: usize,
    pub changes_per_order: u32,
    pub branches: usize,
}

/// Runs the backlog scenario.
pub async fn run(ctx: &Context, plan: BacklogPlan) -> Result<ScenarioResult, BenchError> {
    let peak_reset = memory::reset_peak();
    let changes_per_order = plan.changes_per_order.max(1);
    let bed = Bed::make(
        ctx,
        BedPlan {
            scenario: "backlog",
            partners: 1,
            orders: plan.events.div_ceil(changes_per_order as usize).max(1),
            changes_per_order,
            branches_per_partner: plan.branches,
            timing: false,
            own_process: false,
            route_weights: None,
        },
        |config| config.retry_schedule = vec![RETRY_DELAY; RETRY_STEPS],
    )
    .await?;
    bed.tracker.set_up(false);
    let baseline = memory::rss_mib().unwrap_or(0.0);
    let total = bed.space.total_changes();
    let counters = Arc::new(PushCounters::default());
    let progress = show_progress(Arc::clone(&counters), total);
    let start = bed.now_us();
    let pushed = push_all(&bed.system, &bed.space, ctx.clients, &counters).await;
    let built = bed.now_us();
    progress.abort();
    eprintln!(
        "\rbacklog: {} / {} ingested in {:.1}s; receiver back up, draining",
        grouped(counters.items.load(Relaxed) as f64),
        grouped(total as f64),
        (built - start) as f64 / 1e6
    );
    let rss_at_backlog = memory::rss_mib().unwrap_or(0.0);
    let database_bytes = bed.system.database_bytes().await;
    let peak_while_building = memory::peak_rss_mib().unwrap_or(0.0);
    let refused_while_down = bed.tracker.refused.load(Relaxed);
    let drain_start = bed.now_us();
    bed.tracker.set_up(true);
    let waited = match pushed {
        Ok(()) => bed.await_all(ctx, Some("backlog drain")).await,
        Err(err) => Err(err),
    };
    let drained = bed.tracker.last_ack_us.load(Relaxed).max(drain_start + 1);
    let drain_s = (drained - drain_start) as f64 / 1e6;
    let peak = memory::peak_rss_mib().unwrap_or(0.0);
    let build_s = (built - start) as f64 / 1e6;

    let mut result = ScenarioResult::new("backlog");
    bed.common_fields(&mut result);
    result.field("receiver_down_mode", "503 without Retry-After");
    result.field("retry_delay_ms", RETRY_DELAY.as_millis() as u64);
    result.field("pending_events", counters.items.load(Relaxed));
    result.field("peak_rss_mib", round(peak, 1));
    result.field("peak_rss_while_building_mib", round(peak_while_building, 1));
    result.field("rss_at_backlog_mib", round(rss_at_backlog, 1));
    result.field("baseline_rss_mib", round(baseline, 1));
    result.field("peak_is_this_scenarios_own", peak_reset);
    result.field("build_s", round(build_s, 3));
    result.field(
        "ingest_per_s",
        round(counters.items.load(Relaxed) as f64 / build_s.max(1e-9), 1),
    );
    result.field("ingest_retries", counters.retries.load(Relaxed));
    result.field("attempts_refused_while_down", refused_while_down);
    result.field("drain_s", round(drain_s, 3));
    let pending = counters.items.load(Relaxed).max(1) as f64;
    let record = record_bytes(&bed.space) as f64;
    match &database_bytes {
        Ok(size) => {
            let per_change = size.bytes as f64 / pending;
            result.field("database_bytes_at_backlog", size.bytes);
            if !size.relations.is_empty() {
                let per_relation: serde_json::Map<String, serde_json::Value> = size
                    .relations
                    .iter()
                    .map(|(name, bytes)| (name.clone(), round(*bytes as f64 / pending, 1).into()))
                    .collect();
                result.field("bytes_per_pending_change_by_relation", per_relation);
            }
            result.field("record_bytes", record as u64);
            result.field("bytes_per_pending_change", round(per_change, 1));
            result.field(
                "bytes_per_pending_over_record",
                round(per_change / record, 2),
            );
            result.row(
                "bytes_per_pending_change",
                format!("{per_change:.0} ({:.2} × the record)", per_change / record),
                &format!("≤ {:.0} (2 × {record:.0})", 2.0 * record),
                Some(per_change <= 2.0 * record),
            );
        }
        Err(err) => result.problems.push(err.to_string()),
    }
    let drain_rate = bed.tracker.order_records.load(Relaxed) as f64 / drain_s;
    result.field("drain_orders_per_s", round(drain_rate, 1));
    result.field(
        "drain_deliveries_per_s",
        round(bed.tracker.deliveries.load(Relaxed) as f64 / drain_s, 1),
    );
    result.row(
        "peak_rss_mib",
        format!("{peak:.1}"),
        &format!("< {MEMORY_TARGET_MIB:.0}"),
        Some(peak < MEMORY_TARGET_MIB),
    );
    result.row(
        "rss_at_backlog_mib",
        format!("{rss_at_backlog:.1}"),
        "",
        None,
    );
    result.row("baseline_rss_mib", format!("{baseline:.1}"), "", None);
    result.row("pending_events", grouped(total as f64), "", None);
    result.row("build_s", format!("{build_s:.1}"), "", None);
    result.row("drain_s", format!("{drain_s:.1}"), "", None);
    result.row("drain_orders_per_s", grouped(drain_rate), "", None);
    if let Err(err) = waited {
        result.problems.push(err.to_string());
    }
    result.problems.extend(bed.problems());
    bed.stop().await;
    Ok(result)
}

/// The compact size of one order record as the platform sends it (the bench's orders
/// differ only in ids and times).
fn record_bytes(space: &super::orders::OrderSpace) -> usize {
    serde_json::from_str::<serde_json::Value>(&space.item(0, 0))
        .ok()
        .and_then(|item| serde_json::to_vec(&item["order"]).ok())
        .map_or(0, |record| record.len())
}

/// Prints "backlog: 412,000 / 1,000,000 ingested" in place on stderr every second.
fn show_progress(counters: Arc<PushCounters>, total: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticker.tick().await;
            eprint!(
                "\rbacklog: {} / {} ingested, RSS {:.0} MiB   ",
                grouped(counters.items.load(Relaxed) as f64),
                grouped(total as f64),
                memory::rss_mib().unwrap_or(0.0)
            );
            let _ = std::io::stderr().flush();
        }
    })
}
