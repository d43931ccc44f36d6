//! `hookit demo`: the whole system working on this machine, in well under a minute.
//!
//! It starts hookit in this process (embedded SQLite in a fresh data directory, a
//! 100 ms tick, a short retry schedule) and a partner's webhook receiver on loopback,
//! onboards a partner through the operator API, streams a realistic order flow
//! through the ingest and partner APIs, makes trouble on purpose (failed attempts, an
//! endpoint offline for a while, a delivery that goes dead while its order moves on
//! and is replayed, a slow handler that times out, a webhook-secret rotation), waits
//! until everything is delivered, and prints one delivery as received and what
//! happened, with each guarantee checked by the receiver and by a second verifier
//! independent of this project's crate. A guarantee the run had nothing to show for
//! is printed as not exercised; the plan sees to it that even `--orders 5` exercises
//! every one. It fails (non-zero exit) when a guarantee was broken.
//!
//! The demo is only a client: it uses the same APIs an operator, klikit's order
//! platform and a partner would, and reads hookit's own numbers from them.

mod client;
mod data_dir;
mod driver;
mod independent;
mod orders;
mod plan;
mod receiver;
mod summary;
mod topology;
mod trouble;

use crate::config::{DatabaseLocation, ServeConfig};
use crate::credentials::Secret;
use crate::serve::Server;
use crate::serve::scratch::ScratchSchema;
pub use client::DemoError;
use client::{Client, PartnerKeys};
use data_dir::{DataDir, read_token};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use receiver::Receiver;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use summary::DuplicateReplay;
use trouble::Narrator;

/// The retry schedule of the demo: short enough that a delivery really goes dead
/// within seconds. (A `Retry-After: 1` stretches each wait to a second, which is how
/// the branch that is offline for two seconds still gets everything.)
const RETRY_SCHEDULE_MS: [u64; 4] = [100, 200, 400, 800];
const TICK: Duration = Duration::from_millis(100);
/// When, after the stream starts, the down branch goes offline, and for how long.
const OUTAGE_AFTER: Duration = Duration::from_millis(1000);
const OUTAGE_LENGTH: Duration = Duration::from_millis(2000);
/// hookit's attempt timeout in the demo, and how long the slow handler takes.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);
const SLOW_HANDLER: Duration = Duration::from_millis(1300);
/// When, after the stream starts, the operator rotates the webhook secret.
const ROTATE_AFTER: Duration = Duration::from_millis(1200);

/// Arguments of `hookit demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many orders to stream.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub orders: u32,
    /// Keep hookit's data (database, tokens, master key) in DIR, which must not hold
    /// a hookit database yet [default: a temporary directory, removed at the end].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Run on this PostgreSQL database (postgres://…) instead of an embedded SQLite
    /// file, in a schema of the demo's own that is dropped at the end; a database that
    /// already holds hookit partners is refused [default: SQLite in the data directory].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Seed of the order stream: the same seed plans the same orders.
    #[arg(long, default_value_t = 663)]
    pub seed: u64,
    /// How long to wait, once the stream is pushed, for every delivery (seconds).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Runs the demo; an error means a guarantee was broken or the demo could not run.
pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    let data = DataDir::prepare(args.data_dir.clone())?;
    let mut config = ServeConfig::for_tests(&data.path);
    config.tick = TICK;
    config.retry_schedule = RETRY_SCHEDULE_MS.map(Duration::from_millis).to_vec();
    config.attempt_timeout = ATTEMPT_TIMEOUT;
    config.operator_token = None;
    config.ingest_token = None;
    // The demo reads its figures from `/metrics`, which the API port serves only
    // behind a token.
    let metrics_token = crate::credentials::generate_token("hkmt_");
    config.http.metrics_token = Some(metrics_token.clone());
    let scratch = match &args.database_url {
        None => None,
        Some(url) => {
            let DatabaseLocation::Postgres(url) = DatabaseLocation::parse(url)
                .map_err(|problem| format!("--database-url: {problem}"))?
            else {
                return Err(
                    "--database-url: the demo takes a postgres:// URL; leave it out \
                            to use SQLite in the data directory"
                        .into(),
                );
            };
            let scratch = ScratchSchema::prepare(&url, "demo", "run").await?;
            config.database = DatabaseLocation::Postgres(url);
            config.database_connection.schema = Some(scratch.name.clone());
            Some(scratch)
        }
    };
    let server = Server::start(config).await?;
    let outcome = demo(&args, &data.path, server.address, metrics_token).await;
    server.stop().await;
    if let Some(scratch) = scratch {
        scratch.drop().await?;
    }
    match &outcome {
        Ok(_) => println!("  hookit stopped cleanly{}", data.farewell()),
        Err(_) => eprintln!("  hookit stopped{}", data.farewell()),
    }
    outcome?.verdict()
}

/// Everything between starting and stopping the server.
async fn demo(
    args: &DemoArgs,
    data_dir: &Path,
    address: std::net::SocketAddr,
    metrics_token: Secret,
) -> Result<summary::Summary, DemoError> {
    let started = Instant::now();
    let client = Client::new(
        format!("http://{address}"),
        read_token(data_dir, "operator-token")?,
        read_token(data_dir, "ingest-token")?,
        metrics_token,
    )?;
    let keys = onboard(&client).await?;
    let receiver = Receiver::start(keys.webhook_secret_key.clone(), SLOW_HANDLER).await?;
    let mapped = map_urls(&client, &keys, &receiver.base).await?;
    let plan = plan::plan(args.orders as usize, args.seed);
    print_intro(
        address,
        data_dir,
        &receiver.base,
        &keys.id,
        mapped,
        &plan,
        args.seed,
    );
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let pushed = bars.add(bar(plan.changes, "pushed"));
    let acked = bars.add(bar(plan.changes, "acknowledged"));
    let narrator = Narrator::new(bars.clone());
    let state = Arc::clone(&receiver.state);
    let ticker = tokio::spawn({
        let (acked, state) = (acked.clone(), Arc::clone(&state));
        async move {
            loop {
                acked.set_position(state.books().acked.len() as u64);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let outage = trouble::outage(
        Arc::clone(&state),
        narrator.clone(),
        OUTAGE_AFTER,
        OUTAGE_LENGTH,
    );
    let (watcher, watch) =
        trouble::watch_dead(client.clone(), Arc::clone(&state), narrator.clone());
    let rotation = trouble::rotate_webhook_secret(
        client.clone(),
        keys.id.clone(),
        Arc::clone(&state),
        narrator.clone(),
        ROTATE_AFTER,
    );
    narrator.say(&format!("streaming {} orders …", plan.orders.len()));
    let stream = driver::drive(&client, &keys, plan, args.seed, &pushed).await;
    // However short the stream, the rotation happens before the last deliveries.
    let rotation = match rotation.await {
        Ok(None) => Ok(()),
        Ok(Some(err)) => Err(err),
        Err(err) => Err(format!("the rotation task failed: {err}")),
    };
    let waited = match &stream {
        Ok(driven) => {
            narrator.say(&format!(
                "all {} changes pushed; waiting for every delivery",
                driven.changes.len()
            ));
            wait_until_delivered(&client, &state, driven, args.timeout).await
        }
        Err(_) => Ok(()),
    };
    let duplicate = match (&stream, &waited) {
        (Ok(_), Ok(())) => Some(replay_a_delivered_one(&client, &state, &narrator).await),
        _ => None,
    };
    for task in [ticker, outage, watcher] {
        task.abort();
    }
    acked.set_position(state.books().acked.len() as u64);
    pushed.finish();
    acked.finish();
    let _ = bars.clear();
    let driven = stream?;
    waited?;
    let duplicate = duplicate.transpose()?;
    let deliveries = client.all_deliveries().await?;
    let metrics = client.metrics().await?;
    let slow_event = state.books().slow_event.clone();
    let slow_timeout_recorded = match slow_event {
        Some(event_id) => client.attempt_timed_out(&event_id).await?,
        None => false,
    };
    let watch = std::mem::take(&mut *watch.lock().unwrap_or_else(|p| p.into_inner()));
    let summary = {
        let books = state.books();
        summary::summarize(&summary::Inputs {
            seed: args.seed,
            orders: args.orders as usize,
            elapsed: started.elapsed(),
            driven: &driven,
            books: &books,
            deliveries: &deliveries,
            metrics: &metrics,
            watch: &watch,
            duplicate_replay: duplicate.as_ref(),
            rotation,
            slow_timeout_recorded,
        })
    };
    receiver.stop();
    println!("{}", summary.text());
    Ok(summary)
}

/// What is about to run, and where.
fn print_intro(
    address: std::net::SocketAddr,
    data_dir: &Path,
    receiver: &str,
    partner_id: &str,
    mapped: usize,
    plan: &plan::Plan,
    seed: u64,
) {
    println!("hookit demo: klikit order webhooks, end to end, on this machine\n");
    println!(
        "  hookit     http://{address}, in this process; embedded SQLite in {}",
        data_dir.display()
    );
    println!(
        "             tick {} ms; attempt timeout {} ms; retries after {} ms, then dead",
        TICK.as_millis(),
        ATTEMPT_TIMEOUT.as_millis(),
        RETRY_SCHEDULE_MS.map(|ms| ms.to_string()).join(", ")
    );
    println!(
        "  receiver   {receiver} — on loopback, so this demo allows private targets (hookit refuses them by default)"
    );
    println!("  partner    {partner_id} onboarded through the operator API; {mapped} URL mappings");
    println!(
        "  trouble    a flaky receiver, lost acks, a branch offline, a dead delivery whose order moves on, \
         a handler slower than the timeout, the webhook secret rotated mid-stream"
    );
    println!(
        "  stream     {} orders, {} changes and {} deliberately stale pushes (seed {seed}), through the ingest and partner APIs\n",
        plan.orders.len(),
        plan.changes,
        plan.late_pushes,
    );
}

fn bar(length: usize, prefix: &'static str) -> ProgressBar {
    let style = ProgressStyle::with_template("  {prefix:>13} [{bar:40}] {pos:>6}/{len} changes")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(length as u64)
        .with_style(style)
        .with_prefix(prefix)
}

/// Creates the partner; its credentials are shown once, as to a real operator.
async fn onboard(client: &Client) -> Result<PartnerKeys, DemoError> {
    let body = json!({ "name": "Warung POS (demo)" });
    let created = client
        .operator(reqwest::Method::POST, "/v1/operator/partners", Some(&body))
        .await?;
    let field = |name: &str| {
        created[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("POST /v1/operator/partners answered without `{name}`"))
    };
    Ok(PartnerKeys {
        id: field("id")?,
        partner_key: field("partner_key")?,
        secret_key: Secret::new(field("secret_key")?),
        webhook_secret_key: Secret::new(field("webhook_secret_key")?),
    })
}

/// Maps every (brand, branch, event type) of the demo to its receiver path.
async fn map_urls(client: &Client, keys: &PartnerKeys, base: &str) -> Result<usize, DemoError> {
    let path = format!("/v1/operator/partners/{}/mappings", keys.id);
    let planned = topology::mappings();
    for mapping in &planned {
        let mut body = json!({
            "brand_id": mapping.brand_id,
            "event_type": mapping.event.as_str(),
            "url": format!("{base}{}", mapping.path),
        });
        if let Some(branch) = mapping.branch_id {
            body["branch_id"] = json!(branch);
        }
        client
            .operator(reqwest::Method::PUT, &path, Some(&body))
            .await?;
    }
    Ok(planned.len())
}

/// Waits until the receiver acknowledged every pushed change and nothing is pending.
async fn wait_until_delivered(
    client: &Client,
    state: &receiver::ReceiverState,
    driven: &driver::Driven,
    timeout: u64,
) -> Result<(), DemoError> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let missing: Vec<String> = {
            let books = state.books();
            driven
                .changes
                .iter()
                .filter(|(key, _)| !books.acked.contains_key(key))
                .map(|((order, version), pushed)| {
                    format!("order {order} version {version} ({})", pushed.event)
                })
                .collect()
        };
        if missing.is_empty() && client.nothing_pending().await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let pending = client.deliveries("state=pending&limit=1000").await?;
            let pending = pending["deliveries"].as_array().map_or(0, Vec::len);
            return Err(format!(
                "guarantee broken: not everything was delivered within {timeout} s: \
                 {} of {} order changes never reached the receiver{}, {pending} deliveries \
                 still pending (see GET /v1/operator/deliveries?state=pending; rerun with \
                 --data-dir to keep the database, or a longer --timeout)",
                missing.len(),
                driven.changes.len(),
                missing
                    .first()
                    .map(|first| format!(" (e.g. {first})"))
                    .unwrap_or_default()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The operator replays one delivery the receiver already acknowledged: it arrives
/// again under the same event id and the receiver's de-dupe ignores it.
async fn replay_a_delivered_one(
    client: &Client,
    state: &receiver::ReceiverState,
    narrator: &Narrator,
) -> Result<DuplicateReplay, DemoError> {
    let page = client.deliveries("state=delivered&limit=1").await?;
    let event_id = page["deliveries"][0]["event_id"]
        .as_str()
        .ok_or("GET /v1/operator/deliveries?state=delivered listed nothing")?
        .to_owned();
    let before = state.books().duplicates;
    narrator.say(&format!(
        "↻ an operator replays {event_id}, already acknowledged: the receiver must ignore it"
    ));
    client.replay(&event_id).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ignored = state.books().duplicates > before;
        if (ignored && client.nothing_pending().await?) || Instant::now() >= deadline {
            return Ok(DuplicateReplay { event_id, ignored });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
