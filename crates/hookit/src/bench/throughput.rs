//! Throughput scenarios: `batched` (many orders on a few branches, so deliveries
//! carry many orders) and `fanout` (orders spread over many partners and branches,
//! one order per delivery). Both push everything as fast as the ingest clients can
//! and time from the first push to the last acknowledgement.

use super::BenchError;
use super::bed::{Bed, BedPlan, Context};
use super::orders::{PushCounters, push_all};
use super::report::{ScenarioResult, grouped, round};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// SPEC §8: orders per second with batching.
pub const BATCHED_TARGET: f64 = 20_000.0;
/// SPEC §8: deliveries per second with one order per delivery.
pub const FANOUT_TARGET: f64 = 8_000.0;

/// Sizes of a throughput run.
#[derive(Debug, Clone)]
pub struct ThroughputPlan {
    pub scenario: &'static str,
    /// Order changes to push (each delivers one order record).
    pub changes: usize,
    pub changes_per_order: u32,
    pub partners: usize,
    pub branches_per_partner: usize,
    /// Forces the server's `max_batch_orders` (fanout: 1).
    pub max_batch_orders: Option<usize>,
}

/// Runs one throughput scenario.
pub async fn run(ctx: &Context, plan: ThroughputPlan) -> Result<ScenarioResult, BenchError> {
    let changes_per_order = plan.changes_per_order.max(1);
    let bed = Bed::make(
        ctx,
        BedPlan {
            scenario: plan.scenario,
            partners: plan.partners,
            orders: plan.changes.div_ceil(changes_per_order as usize).max(1),
            changes_per_order,
            branches_per_partner: plan.branches_per_partner,
            timing: false,
            own_process: true,
            route_weights: None,
        },
        |config| {
            if let Some(max) = plan.max_batch_orders {
                config.max_batch_orders = max;
            }
        },
    )
    .await?;
    let counters = Arc::new(PushCounters::default());
    let cpu_before = bed.system.server_cpu_seconds();
    let database_before = bed.system.database_cpu().await;
    let start = bed.now_us();
    let pushed = push_all(&bed.system, &bed.space, ctx.clients, &counters).await;
    let ingested = bed.now_us();
    let waited = match pushed {
        Ok(()) => bed.await_all(ctx, None).await,
        Err(err) => Err(err),
    };
    let cpu = cpu_before.zip(bed.system.server_cpu_seconds());
    let database_cpu = database_before.zip(bed.system.database_cpu().await);
    let last_ack = bed.tracker.last_ack_us.load(Relaxed).max(start + 1);
    let seconds = (last_ack - start) as f64 / 1e6;
    let ingest_seconds = (ingested.max(start + 1) - start) as f64 / 1e6;
    let records = bed.tracker.order_records.load(Relaxed) as f64;
    let deliveries = bed.tracker.deliveries.load(Relaxed) as f64;
    let pushed_items = counters.items.load(Relaxed) as f64;

    let mut result = ScenarioResult::new(plan.scenario);
    bed.common_fields(&mut result);
    result.field("partners", plan.partners as u64);
    result.field("branches_per_partner", plan.branches_per_partner as u64);
    result.field("ingest_clients", ctx.clients as u64);
    result.field("server", ctx.server.describe(plan.max_batch_orders));
    result.field("ingest_requests", counters.requests.load(Relaxed));
    result.field("ingest_retries", counters.retries.load(Relaxed));
    result.field("duration_s", round(seconds, 3));
    result.field("ingest_s", round(ingest_seconds, 3));
    result.field("ingest_per_s", round(pushed_items / ingest_seconds, 1));
    let orders_per_s = records / seconds;
    let deliveries_per_s = deliveries / seconds;
    result.field("orders_per_s", round(orders_per_s, 1));
    result.field("deliveries_per_s", round(deliveries_per_s, 1));
    result.field(
        "orders_per_delivery",
        round(records / deliveries.max(1.0), 2),
    );
    if let Some((before, after)) = cpu {
        let used = (after - before).max(0.0);
        result.field("server_cpu_s", round(used, 2));
        result.field(
            "cpu_us_per_change",
            round(used * 1e6 / pushed_items.max(1.0), 1),
        );
        result.field(
            "cpu_us_per_delivery",
            round(used * 1e6 / deliveries.max(1.0), 1),
        );
        result.row("server_cpu_s", format!("{used:.2}"), "", None);
    }
    if let Some((before, after)) = database_cpu {
        let used = before.until(&after);
        result.field("database_cpu_s", round(used, 2));
        result.field(
            "database_cpu_us_per_change",
            round(used * 1e6 / pushed_items.max(1.0), 1),
        );
        result.row("database_cpu_s", format!("{used:.2}"), "", None);
    }
    if plan.scenario == "fanout" {
        result.row(
            "deliveries_per_s",
            grouped(deliveries_per_s),
            &format!("≥ {}", grouped(FANOUT_TARGET)),
            Some(deliveries_per_s >= FANOUT_TARGET),
        );
        result.row("orders_per_s", grouped(orders_per_s), "", None);
    } else {
        result.row(
            "orders_per_s",
            grouped(orders_per_s),
            &format!("≥ {}", grouped(BATCHED_TARGET)),
            Some(orders_per_s >= BATCHED_TARGET),
        );
        result.row("deliveries_per_s", grouped(deliveries_per_s), "", None);
    }
    result.row(
        "ingest_per_s",
        grouped(pushed_items / ingest_seconds),
        "",
        None,
    );
    result.row("duration_s", format!("{seconds:.2}"), "", None);
    if let Err(err) = waited {
        result.problems.push(err.to_string());
    }
    result.problems.extend(bed.problems());
    bed.stop().await;
    Ok(result)
}
