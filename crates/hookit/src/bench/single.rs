//! The `single` scenario: the path klikit's platform really takes. Every change is its
//! own `POST /v1/ingest/orders`, sent over `connections` keep-alive connections as fast
//! as answers come back; one brand-wide mapping sends everything to one URL, the orders
//! spread over 100 branches. By default each order is its own delivery
//! (`max_batch_orders` 1); `--batched` keeps the server's batching.
//!
//! The server runs in a process of its own, so its CPU time is hookit's alone; the
//! load generator and the verifying receiver share this one.

use super::BenchError;
use super::bed::{Bed, BedPlan, Context};
use super::latency::Percentiles;
use super::report::{ScenarioResult, grouped, round};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Branches of the one brand the orders spread over.
pub const BRANCHES: usize = 100;

/// Sizes of a `single` run.
#[derive(Debug, Clone)]
pub struct SinglePlan {
    pub changes: usize,
    pub connections: usize,
    /// Keep the server's `max_batch_orders` instead of forcing 1.
    pub batched: bool,
}

/// What the connections measured.
struct Pushed {
    /// Request latencies, ms.
    latencies: Vec<f64>,
    retries: u64,
}

/// Runs `single` (or `single_batched`).
pub async fn run(ctx: &Context, plan: SinglePlan) -> Result<ScenarioResult, BenchError> {
    let name = if plan.batched {
        "single_batched"
    } else {
        "single"
    };
    let forced = (!plan.batched).then_some(1);
    let bed = Bed::make(
        ctx,
        BedPlan {
            scenario: name,
            partners: 1,
            orders: plan.changes.max(1),
            changes_per_order: 1,
            branches_per_partner: BRANCHES,
            timing: true,
            own_process: true,
            route_weights: None,
        },
        |config| {
            if let Some(max) = forced {
                config.max_batch_orders = max;
            }
        },
    )
    .await?;
    let sent_us: Arc<Vec<AtomicU64>> =
        Arc::new((0..bed.space.orders).map(|_| AtomicU64::new(0)).collect());
    let last_answer_us = Arc::new(AtomicU64::new(0));
    let cpu_before = bed.system.server_cpu_seconds();
    let database_before = bed.system.database_cpu().await;
    let commits_before = bed.system.store_commits().await;
    let start = bed.now_us();
    let pushed = push_singles(&bed, plan.connections.max(1), &sent_us, &last_answer_us).await;
    let last_answer = last_answer_us.load(Relaxed).max(start + 1);
    let delivered_during_ingest = bed.tracker.deliveries.load(Relaxed);
    let waited = match &pushed {
        Ok(_) => bed.await_all(ctx, None).await,
        Err(err) => Err(err.to_string().into()),
    };
    let cpu = cpu_before.zip(bed.system.server_cpu_seconds());
    let database_cpu = database_before.zip(bed.system.database_cpu().await);
    let commits = commits_before.zip(bed.system.store_commits().await);
    let last_ack = bed.tracker.last_ack_us.load(Relaxed).max(start + 1);

    let ingest_s = (last_answer - start) as f64 / 1e6;
    let total_s = (last_ack.max(last_answer) - start) as f64 / 1e6;
    let changes = bed.space.orders as f64;
    let deliveries = bed.tracker.deliveries.load(Relaxed) as f64;
    let records = bed.tracker.order_records.load(Relaxed) as f64;
    let lag_s = last_ack.saturating_sub(last_answer) as f64 / 1e6;
    let mut acked = Vec::with_capacity(bed.space.orders);
    for (index, sent) in sent_us.iter().enumerate() {
        let sent = sent.load(Relaxed);
        if let Some((_, ack)) = bed.tracker.timing(index).filter(|_| sent > 0) {
            acked.push(ack.saturating_sub(sent) as f64 / 1e3);
        }
    }
    let ack = Percentiles::of(&mut acked);
    let (mut latencies, retries) = match pushed {
        Ok(p) => (p.latencies, p.retries),
        Err(_) => (Vec::new(), 0),
    };
    let request = Percentiles::of(&mut latencies);
    let changes_per_s = changes / ingest_s;
    let deliveries_per_s = deliveries / total_s;

    let mut result = ScenarioResult::new(name);
    bed.common_fields(&mut result);
    result.field("connections", plan.connections as u64);
    result.field("branches", BRANCHES as u64);
    result.field("server", ctx.server.describe(forced));
    result.field("ingest_retries", retries);
    result.field("ingest_s", round(ingest_s, 3));
    result.field("duration_s", round(total_s, 3));
    result.field("changes_per_s", round(changes_per_s, 1));
    result.field("request_p50_ms", round(request.p50, 2));
    result.field("request_p99_ms", round(request.p99, 2));
    result.field("deliveries_per_s", round(deliveries_per_s, 1));
    result.field("orders_per_s", round(records / total_s, 1));
    result.field(
        "deliveries_during_ingest_per_s",
        round(delivered_during_ingest as f64 / ingest_s, 1),
    );
    result.field("lag_s", round(lag_s, 3));
    result.field("ingest_to_ack_p50_ms", round(ack.p50, 2));
    result.field("ingest_to_ack_p99_ms", round(ack.p99, 2));
    if let Some((before, after)) = commits {
        let made = after.saturating_sub(before);
        result.field("store_commits", made);
        result.field("commits_per_change", round(made as f64 / changes, 3));
    }
    if let Some((before, after)) = cpu {
        let used = (after - before).max(0.0);
        result.field("server_cpu_s", round(used, 2));
        result.field("cpu_us_per_change", round(used * 1e6 / changes, 1));
        result.field(
            "cpu_us_per_delivery",
            round(used * 1e6 / deliveries.max(1.0), 1),
        );
        result.row("server_cpu_s", format!("{used:.2}"), "", None);
    }
    if let Some((before, after)) = database_cpu {
        let used = before.until(&after);
        result.field("database_cpu_s", round(used, 2));
        result.field("database_cpu_us_per_change", round(used * 1e6 / changes, 1));
        result.row("database_cpu_s", format!("{used:.2}"), "", None);
    }
    result.row("changes_per_s", grouped(changes_per_s), "", None);
    result.row("request_p99_ms", format!("{:.1}", request.p99), "", None);
    result.row("deliveries_per_s", grouped(deliveries_per_s), "", None);
    result.row("lag_s", format!("{lag_s:.2}"), "", None);
    result.row("ingest_to_ack_p99_ms", format!("{:.1}", ack.p99), "", None);
    if let Err(err) = waited {
        result.problems.push(err.to_string());
    }
    result.problems.extend(bed.problems());
    bed.stop().await;
    Ok(result)
}

/// Sends every order of the bed's space, one per request, from `connections` clients
/// that each keep one connection alive; checks each answer stored and routed it.
async fn push_singles(
    bed: &Bed,
    connections: usize,
    sent_us: &Arc<Vec<AtomicU64>>,
    last_answer_us: &Arc<AtomicU64>,
) -> Result<Pushed, BenchError> {
    let next = Arc::new(AtomicUsize::new(0));
    let run_id = rand::random::<u64>();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.min(bed.space.orders) {
        let (system, space, tracker) = (
            Arc::clone(&bed.system),
            Arc::clone(&bed.space),
            Arc::clone(&bed.tracker),
        );
        let (next, sent_us, last_answer_us) = (
            Arc::clone(&next),
            Arc::clone(sent_us),
            Arc::clone(last_answer_us),
        );
        tasks.spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
            let mut pushed = Pushed {
                latencies: Vec::new(),
                retries: 0,
            };
            loop {
                let index = next.fetch_add(1, Relaxed);
                if index >= space.orders {
                    return Ok::<Pushed, BenchError>(pushed);
                }
                let body = space.item(index, 0);
                let sent = tracker.now_us();
                sent_us[index].store(sent, Relaxed);
                let key = format!("bench-{run_id:016x}-{index}");
                let (data, retries) = system.ingest_one(&http, &body, &key).await?;
                let answered = tracker.now_us();
                last_answer_us.fetch_max(answered, Relaxed);
                if data["result"] != "stored" || data["routed_to"] != 1 {
                    return Err(format!(
                        "ingest did not store and route order {} as expected: {data}",
                        space.first_id + index as i64
                    )
                    .into());
                }
                pushed
                    .latencies
                    .push(answered.saturating_sub(sent) as f64 / 1e3);
                pushed.retries += u64::from(retries);
            }
        });
    }
    let mut all = Pushed {
        latencies: Vec::with_capacity(bed.space.orders),
        retries: 0,
    };
    while let Some(joined) = tasks.join_next().await {
        let pushed = joined.map_err(|err| format!("an ingest connection failed: {err}"))??;
        all.latencies.extend(pushed.latencies);
        all.retries += pushed.retries;
    }
    Ok(all)
}
