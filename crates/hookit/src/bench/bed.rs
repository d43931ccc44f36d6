//! The test bed every scenario stands on: a fresh server (in-process, or a child process
//! when the scenario reads the server's CPU time), a receiver, the
//! partners and mappings (made through the operator API), and the checks that decide
//! whether anything was lost, mis-signed or delivered out of order.

use super::BenchError;
use super::orders::OrderSpace;
use super::receiver::{Receiver, Tracker};
use super::system::{Placement, System};
use crate::config::ServeConfig;
use klikit_webhook::EventType;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// What all scenarios share.
#[derive(Debug, Clone)]
pub struct Context {
    pub placement: Placement,
    /// Give up waiting when no delivery arrived for this long.
    pub stall: Duration,
    /// Concurrent ingest clients.
    pub clients: usize,
    /// Server settings given on the command line, applied before a scenario's own.
    pub server: ServerOverrides,
}

/// Server settings the bench's user may change for every scenario (to find what
/// bounds a figure); `None` keeps the server's default.
#[derive(Debug, Clone, Default)]
pub struct ServerOverrides {
    pub max_batch_orders: Option<usize>,
    pub workers: Option<usize>,
    pub per_url_concurrency: Option<usize>,
    /// Whether the server under test serves the web console.
    pub console: Option<bool>,
}

impl ServerOverrides {
    /// The effective server settings, for the JSON report.
    pub fn describe(&self, forced_max_batch_orders: Option<usize>) -> serde_json::Value {
        let mut config = ServeConfig::default();
        self.apply(&mut config);
        if let Some(max) = forced_max_batch_orders {
            config.max_batch_orders = max;
        }
        serde_json::json!({
            "tick_ms": config.tick.as_millis() as u64,
            "max_batch_orders": config.max_batch_orders,
            "workers": config.workers,
            "per_url_concurrency": config.per_url_concurrency,
            "console": config.console.enabled,
        })
    }

    fn apply(&self, config: &mut ServeConfig) {
        if let Some(max) = self.max_batch_orders {
            config.max_batch_orders = max.clamp(1, 1000);
        }
        if let Some(workers) = self.workers {
            config.workers = workers.max(1);
        }
        if let Some(per_url) = self.per_url_concurrency {
            config.per_url_concurrency = per_url.max(1);
        }
        if let Some(console) = self.console {
            config.console.enabled = console;
        }
    }
}

/// A server with partners mapped to a receiver, ready for orders of one space.
pub struct Bed {
    pub system: Arc<System>,
    pub receiver: Receiver,
    pub tracker: Arc<Tracker>,
    pub space: Arc<OrderSpace>,
    pub epoch: Instant,
    /// The machine's 1-minute load average when the scenario started: other work on a
    /// shared machine shows here, and skews every figure.
    pub load_at_start: Option<f64>,
}

/// How a scenario wants its bed made.
pub struct BedPlan {
    pub scenario: &'static str,
    pub partners: usize,
    pub orders: usize,
    pub changes_per_order: u32,
    pub branches_per_partner: usize,
    /// Keep per-order first-seen and acknowledgement times (latency).
    pub timing: bool,
    /// Run the server in a process of its own, so its CPU time can be read.
    pub own_process: bool,
    /// How many route entries each partner gets (see [`OrderSpace::weighted`]);
    /// `None`: every partner one per branch.
    pub route_weights: Option<Vec<usize>>,
}

impl Bed {
    /// Starts everything. Partner `p` owns brand `brand_base + p` and maps every
    /// branch of it, for both event types the bench sends, to `/p/{p}`.
    pub async fn make(
        ctx: &Context,
        plan: BedPlan,
        tune: impl FnOnce(&mut ServeConfig),
    ) -> Result<Bed, BenchError> {
        let brand_base = super::orders::random_base();
        let brands: Vec<i64> = (0..plan.partners as i64).map(|p| brand_base + p).collect();
        let space = match &plan.route_weights {
            None => OrderSpace::new(
                plan.orders,
                plan.changes_per_order,
                &brands,
                plan.branches_per_partner,
            ),
            Some(weights) => OrderSpace::weighted(
                plan.orders,
                plan.changes_per_order,
                &brands,
                plan.branches_per_partner,
                weights,
            ),
        };
        let load_at_start = load_average();
        let epoch = Instant::now();
        let tracker = Arc::new(Tracker::new(
            epoch,
            space.first_id,
            space.orders,
            plan.timing,
        ));
        let receiver = Receiver::start(Arc::clone(&tracker))
            .await
            .map_err(|err| format!("cannot start the bench receiver: {err}"))?;
        let system = System::start(&ctx.placement, plan.scenario, plan.own_process, |config| {
            ctx.server.apply(config);
            tune(config);
        })
        .await?;
        for (index, brand) in brands.iter().enumerate() {
            let name = format!("bench {} partner {index}", plan.scenario);
            let (partner_id, secret) = system.create_partner(&name).await?;
            let path_index = tracker.add_secret(&secret);
            for event in [EventType::OrderCreated, EventType::OrderStatusUpdated] {
                system
                    .map(&partner_id, *brand, None, event, &receiver.url(path_index))
                    .await?;
            }
        }
        Ok(Bed {
            system: Arc::new(system),
            receiver,
            tracker,
            space: Arc::new(space),
            epoch,
            load_at_start,
        })
    }

    /// Microseconds since this bed's epoch.
    pub fn now_us(&self) -> u64 {
        self.tracker.now_us()
    }

    /// Waits until every change of the space was acknowledged, or until nothing new
    /// arrived for `ctx.stall`. With `label`, shows progress on stderr.
    pub async fn await_all(&self, ctx: &Context, label: Option<&str>) -> Result<(), BenchError> {
        let expected = self.space.total_changes();
        let mut last = (0, Instant::now());
        let mut shown = Instant::now();
        loop {
            let got = self.tracker.order_records.load(Relaxed);
            if got >= expected {
                break;
            }
            if got != last.0 {
                last = (got, Instant::now());
            } else if last.1.elapsed() >= ctx.stall {
                if label.is_some() {
                    eprintln!();
                }
                return Err(format!(
                    "stalled: {got} of {expected} order changes acknowledged and nothing new for {}s; \
                     see the problems below",
                    ctx.stall.as_secs()
                )
                .into());
            }
            if let Some(label) = label.filter(|_| shown.elapsed() >= Duration::from_secs(1)) {
                shown = Instant::now();
                eprint!(
                    "\r{label}: {} / {} delivered   ",
                    super::report::grouped(got as f64),
                    super::report::grouped(expected as f64)
                );
                let _ = std::io::stderr().flush();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if label.is_some() {
            eprintln!();
        }
        Ok(())
    }

    /// Everything that went wrong: lost changes, bad signatures, out-of-order versions.
    pub fn problems(&self) -> Vec<String> {
        let t = &self.tracker;
        let mut problems = Vec::new();
        let (orders, changes) = t.missing(self.space.changes_per_order);
        if changes > 0 {
            problems.push(format!(
                "LOST: {changes} acknowledged order changes (of {orders} orders) never arrived"
            ));
        }
        let counts = [
            (
                t.bad_signatures.load(Relaxed),
                "deliveries failed signature verification",
            ),
            (
                t.out_of_order.load(Relaxed),
                "order changes arrived out of order",
            ),
            (
                t.unknown_orders.load(Relaxed),
                "orders arrived that were never ingested",
            ),
            (
                t.bad_requests.load(Relaxed),
                "deliveries were not valid signed envelopes",
            ),
        ];
        for (count, what) in counts {
            if count > 0 {
                problems.push(format!("{count} {what}"));
            }
        }
        if t.violations() > 0 {
            problems.extend(t.problems().into_iter().map(|p| format!("  e.g. {p}")));
        }
        problems
    }

    /// Stops the server and the receiver.
    pub async fn stop(self) {
        drop(self.receiver);
        if let Ok(system) = Arc::try_unwrap(self.system) {
            system.stop().await;
        }
    }

    /// Counts every scenario reports.
    pub fn common_fields(&self, result: &mut super::report::ScenarioResult) {
        let t = &self.tracker;
        result.field("orders", self.space.orders as u64);
        result.field("changes_per_order", self.space.changes_per_order);
        result.field("order_changes", self.space.total_changes());
        result.field("order_records_delivered", t.order_records.load(Relaxed));
        result.field("deliveries", t.deliveries.load(Relaxed));
        result.field("duplicate_deliveries", t.duplicates.load(Relaxed));
        result.field("routes", self.space.routes.len() as u64);
        result.field("load_average_at_start", self.load_at_start);
        result.field("server_processes", self.system.processes() as u64);
    }
}

/// The 1-minute load average from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
