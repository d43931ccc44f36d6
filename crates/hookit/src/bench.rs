//! `hookit bench`: end-to-end throughput, latency and memory against SPEC.md §8.
//!
//! Each scenario starts hookit on a fresh data directory — in-process
//! (`Server::start`), or for `single` as a `hookit serve` process of its own so its CPU
//! time is measured apart from the load — with an in-process receiver that verifies every signature, de-dupes on
//! the event id and checks per-order version order. Partners and mappings are made
//! through the operator API and orders pushed through the batch ingest API by several
//! concurrent clients — exactly as klikit would. The bench fails (non-zero exit) if
//! anything was lost, mis-signed or delivered out of order; speed alone never fails it.
//!
//! - [`bed`]: server + receiver + partners for one scenario, and the integrity checks.
//! - [`system`]: the in-process server and its operator/ingest clients.
//! - [`receiver`]: the verifying receiver.
//! - [`orders`]: order records and the push pipeline.
//! - [`child`]: the server in a process of its own (or several, `--processes`).
//! - [`database_cpu`]: PostgreSQL's CPU time spent on hookit's connections.
//! - [`throughput`], [`latency`], [`backlog`], [`single`], [`soak`]: the scenarios.
//! - [`report`], [`memory`]: output and `/proc/self/status`.

pub mod backlog;
pub mod bed;
pub mod child;
pub mod data_dir;
pub mod database_cpu;
pub mod latency;
pub mod memory;
pub mod orders;
pub mod receiver;
pub mod report;
pub mod single;
pub mod soak;
pub mod system;
pub mod throughput;

use bed::Context;
use report::ScenarioResult;
use std::path::PathBuf;
use std::time::Duration;

/// Errors of the bench, said so a person can act on them.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// The scenarios of SPEC §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Many orders on a few branches: orders/s with batching (target ≥ 20,000/s).
    Batched,
    /// One order per delivery over many partners and branches (target ≥ 8,000/s).
    Fanout,
    /// A steady stream; p50/p95/p99 ingest-to-first-attempt and -to-ack.
    Latency,
    /// A backlog built while the receiver is down, then drained: memory and drain time.
    Backlog,
    /// One change per request over many keep-alive connections, the platform's real
    /// path: changes/s acknowledged, deliveries/s, lag, and the server's CPU per change.
    Single,
    /// A steady stream for a long time (`--duration`, `--rate`) with every retention
    /// set to `--retention`: database size and memory over time (flat within 10 %
    /// over the last three retention periods), p99 ingest-to-first-attempt while
    /// pruning. Not part of the default set: it runs for minutes.
    Soak,
}

impl Scenario {
    const ALL: [Scenario; 5] = [
        Scenario::Batched,
        Scenario::Fanout,
        Scenario::Latency,
        Scenario::Backlog,
        Scenario::Single,
    ];
}

/// Arguments of `hookit bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Scenarios to run, comma-separated [default: all, in the order listed].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenario: Vec<Scenario>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Database of the server under test: sqlite://PATH, a file path or postgres://…
    /// [default: SQLite in a fresh data directory per scenario].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Where the per-scenario data directories are made [default: the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the data directories instead of deleting them.
    #[arg(long)]
    pub keep_data: bool,
    /// batched: order changes to push (each delivers one order record).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub orders: usize,
    /// batched and latency: branches of the one partner's brand.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub branches: usize,
    /// batched and backlog: changes per order (created, then status updates), so that
    /// per-order delivery order is checked.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub changes_per_order: u32,
    /// Server `max_batch_orders` for batched, latency and backlog [default: the server's].
    #[arg(long, value_name = "N")]
    pub max_batch_orders: Option<usize>,
    /// Server `workers` (attempts in flight overall) [default: the server's].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Server `per_url_concurrency` (attempts in flight to one URL) [default: the server's].
    #[arg(long, value_name = "N")]
    pub per_url_concurrency: Option<usize>,
    /// Serve the web console in the server under test, `on` or `off` (as
    /// `hookit serve`'s setting), to compare dispatch with and without it
    /// [default: on, the server's].
    #[arg(long, env = "HOOKIT_CONSOLE", value_name = "on|off", value_parser = on_or_off)]
    pub console: Option<bool>,
    /// fanout: orders to push (one change each, one order per delivery).
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub fanout_orders: usize,
    /// fanout: partners, each with its own brand and URL.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub partners: usize,
    /// fanout: branches per partner's brand.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub fanout_branches: usize,
    /// latency: seconds of steady ingest.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub duration_s: f64,
    /// latency and soak: orders per second.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub rate: usize,
    /// latency: orders per push (pushes go out every push/rate seconds).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub push_size: usize,
    /// latency: dispatch tick of the server.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub tick_ms: u64,
    /// latency: meanwhile, another partner receives a `single`-style load at this many
    /// changes/s (one change per request over `--connections` connections); SPEC §8
    /// asks for half the `single` peak measured in the same sitting.
    #[arg(long, value_name = "N")]
    pub background_rate: Option<usize>,
    /// backlog: pending order changes to build while the receiver is down.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub backlog: usize,
    /// backlog: branches the backlog spreads over.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub backlog_branches: usize,
    /// single: order changes to send, one per request.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub changes: usize,
    /// single: concurrent keep-alive connections sending them.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub connections: usize,
    /// single: keep the server's batching instead of one order per delivery.
    #[arg(long)]
    pub batched: bool,
    /// Concurrent ingest clients for batched, fanout and backlog.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub clients: usize,
    /// single: start the server process under this command, e.g.
    /// "valgrind --tool=callgrind" to profile it (the profile lands in the working
    /// directory).
    #[arg(long, value_name = "COMMAND")]
    pub server_wrapper: Option<String>,
    /// `hookit serve` processes sharing the database (PostgreSQL only): ingest is
    /// spread over them round-robin, and every one of them delivers. Scenarios that run
    /// their server in-process (latency, backlog) start the others as processes.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub processes: usize,
    /// soak: how long to push at `--rate`, e.g. 10m.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_soak_duration)]
    pub duration: Duration,
    /// soak: every `HOOKIT_RETAIN_*` setting of the server, e.g. 2m.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_soak_duration)]
    pub retention: Duration,
    /// soak: how often database size and memory are sampled.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_soak_duration)]
    pub sample_every: Duration,
    /// Give up (and fail) when no delivery arrives for this many seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub stall_s: u64,
}

/// `on`/`off` (also true/false, yes/no, 1/0), as `HOOKIT_CONSOLE` reads for `serve`.
fn on_or_off(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("expected on or off, got {text:?}")),
    }
}

/// Runs the benchmark scenarios.
pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    if cfg!(debug_assertions) {
        eprintln!("bench: this is a debug build; figures mean little (use --release)");
    }
    let ctx = Context {
        placement: system::Placement {
            parent: args.data_dir.clone().unwrap_or_else(std::env::temp_dir),
            database_url: args.database_url.clone(),
            keep_data: args.keep_data,
            server_wrapper: args
                .server_wrapper
                .as_deref()
                .map(|w| w.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            processes: args.processes.max(1),
        },
        stall: Duration::from_secs(args.stall_s.max(1)),
        clients: args.clients.max(1),
        server: bed::ServerOverrides {
            max_batch_orders: args.max_batch_orders,
            workers: args.workers,
            per_url_concurrency: args.per_url_concurrency,
            console: args.console,
        },
    };
    let database = ctx.placement.backend_name()?;
    let scenarios = if args.scenario.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenario.clone()
    };
    let mut results = Vec::new();
    for scenario in scenarios {
        eprintln!("bench: running {scenario:?} on {database}");
        let result = run_one(&ctx, &args, scenario).await?;
        eprint!("{}", report::rows_text(&result));
        results.push(result);
    }
    let machine = machine_info();
    if args.json {
        println!("{}", report::to_json(&results, machine, database));
    } else {
        print!("{}", report::to_table(&results, &machine, database));
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| r.name)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "deliveries were lost, mis-signed or out of order in: {} (see PROBLEM lines)",
            failed.join(", ")
        )
        .into())
    }
}

async fn run_one(
    ctx: &Context,
    args: &BenchArgs,
    scenario: Scenario,
) -> Result<ScenarioResult, BenchError> {
    match scenario {
        Scenario::Batched => {
            throughput::run(
                ctx,
                throughput::ThroughputPlan {
                    scenario: "batched",
                    changes: args.orders.max(1),
                    changes_per_order: args.changes_per_order,
                    partners: 1,
                    branches_per_partner: args.branches.max(1),
                    max_batch_orders: None,
                },
            )
            .await
        }
        Scenario::Fanout => {
            throughput::run(
                ctx,
                throughput::ThroughputPlan {
                    scenario: "fanout",
                    changes: args.fanout_orders.max(1),
                    changes_per_order: 1,
                    partners: args.partners.max(1),
                    branches_per_partner: args.fanout_branches.max(1),
                    max_batch_orders: Some(1),
                },
            )
            .await
        }
        Scenario::Latency => {
            latency::run(
                ctx,
                latency::LatencyPlan {
                    duration: Duration::from_secs_f64(args.duration_s.clamp(0.01, 86_400.0)),
                    rate_per_s: args.rate.max(1),
                    push_size: args.push_size,
                    branches: args.branches.max(1),
                    tick: Duration::from_millis(args.tick_ms.clamp(1, 60_000)),
                    background: args.background_rate.filter(|rate| *rate > 0).map(|rate| {
                        latency::Background {
                            rate_per_s: rate,
                            connections: args.connections.max(1),
                        }
                    }),
                },
            )
            .await
        }
        Scenario::Single => {
            single::run(
                ctx,
                single::SinglePlan {
                    changes: args.changes.max(1),
                    connections: args.connections.max(1),
                    batched: args.batched,
                },
            )
            .await
        }
        Scenario::Soak => {
            soak::run(
                ctx,
                soak::SoakPlan {
                    duration: args.duration,
                    rate_per_s: args.rate.max(1),
                    push_size: args.push_size,
                    branches: args.branches.max(1),
                    tick: Duration::from_millis(args.tick_ms.clamp(1, 60_000)),
                    retention: args.retention,
                    sample_every: args.sample_every,
                },
            )
            .await
        }
        Scenario::Backlog => {
            backlog::run(
                ctx,
                backlog::BacklogPlan {
                    events: args.backlog.max(1),
                    changes_per_order: args.changes_per_order,
                    branches: args.backlog_branches.max(1),
                },
            )
            .await
        }
    }
}

/// A duration of the soak (`250ms`, `10s`, `2m`), at least a millisecond.
fn parse_soak_duration(text: &str) -> Result<Duration, String> {
    match crate::config::parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err("must be longer than 0".into()),
        Err(err) => Err(err.to_string()),
    }
}

/// What the figures were measured on.
fn machine_info() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map(|kib| kib / 1024);
    serde_json::json!({
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        "cpu_model": cpu_model,
        "memory_mib": memory_mib,
        "os": std::env::consts::OS,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).ok(),
        "hookit_version": env!("CARGO_PKG_VERSION"),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "process_peak_rss_mib": memory::peak_rss_mib().map(|m| report::round(m, 1)),
        "load_average": bed::load_average(),
    })
}
