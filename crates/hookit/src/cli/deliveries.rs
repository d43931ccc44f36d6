//! `hookit deliveries`: list and filter deliveries, show one with its attempts, retry
//! pending ones now, replay one or many.

mod retry;
mod show;

use super::client::OperatorClient;
use super::table::{self, Table};
use super::{CliError, emit, parse_event_type};
use klikit_webhook::EventType;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The `hookit deliveries` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries, newest first.
    List(ListArgs),
    /// Show one delivery and every attempt made at it.
    Show {
        /// The delivery's event id (`evt_…`).
        event_id: String,
    },
    /// Send a delivery again: one by event id, or every dead one matching filters
    /// (delivered ones too only with --include-delivered).
    Replay(ReplayArgs),
    /// Send a pending delivery now (its endpoint was just fixed): one by event id, or
    /// every pending one matching filters. Same event id; the retry schedule is not
    /// advanced. Refused while an attempt is in flight.
    Retry(retry::RetryArgs),
}

/// Filters shared by `list` and bulk `replay`; each one narrows.
#[derive(Debug, clap::Args)]
pub struct Filters {
    /// Only this partner's deliveries (`prt_…`).
    #[arg(long)]
    partner: Option<String>,
    /// Only deliveries in this state.
    #[arg(long, value_enum)]
    state: Option<StateArg>,
    /// Only deliveries carrying this order id.
    #[arg(long)]
    order: Option<i64>,
    /// Only this event type: a wire name, or created, status, cart.
    #[arg(long, value_parser = parse_event_type)]
    event: Option<EventType>,
}

/// A delivery state, as the API names it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StateArg {
    Pending,
    Delivered,
    Dead,
}

impl StateArg {
    fn as_str(self) -> &'static str {
        match self {
            StateArg::Pending => "pending",
            StateArg::Delivered => "delivered",
            StateArg::Dead => "dead",
        }
    }
}

/// Arguments of `hookit deliveries list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    filters: Filters,
    /// At most this many deliveries (1 to 1000; the server's default is 50).
    #[arg(long)]
    limit: Option<usize>,
    /// Continue after a previous page (the `next_cursor` it printed).
    #[arg(long)]
    cursor: Option<String>,
}

/// Arguments of `hookit deliveries replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Replay this one delivery (`evt_…`).
    #[arg(conflicts_with_all = ["partner", "state", "order", "event", "all_dead"])]
    event_id: Option<String>,
    #[command(flatten)]
    filters: Filters,
    /// Replay every dead delivery of every partner.
    #[arg(long, conflicts_with_all = ["partner", "state", "order", "event"])]
    all_dead: bool,
    /// Also re-send delivered ones that match (needed with `--state delivered`):
    /// partners receive them again under the same event ids.
    #[arg(long, conflicts_with = "all_dead")]
    include_delivered: bool,
}

/// One delivery as the operator API lists it.
#[derive(Debug, Deserialize)]
struct DeliveryView {
    event_id: String,
    partner_id: String,
    mapping_id: String,
    event_type: String,
    brand_id: i64,
    branch_id: i64,
    order_ids: Vec<i64>,
    state: String,
    dead_reason: Option<String>,
    attempt_count: u32,
    next_attempt_at: Option<String>,
    created_at: String,
    finished_at: Option<String>,
}

#[derive(Deserialize)]
struct DeliveryPage {
    deliveries: Vec<DeliveryView>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct DeliveryDetail {
    #[serde(flatten)]
    summary: DeliveryView,
    body: String,
    attempts: Vec<AttemptView>,
}

#[derive(Deserialize)]
struct AttemptView {
    attempt: u32,
    started_at: String,
    duration_ms: i64,
    status_code: Option<u16>,
    error_kind: Option<String>,
    error: Option<String>,
    response_excerpt: Option<String>,
}

#[derive(Deserialize)]
struct Replayed {
    replayed: u64,
    skipped: Vec<Skipped>,
    skipped_total: u64,
}

#[derive(Deserialize)]
struct Skipped {
    event_id: String,
    reason: String,
}

/// Runs one `hookit deliveries` subcommand.
pub async fn run(
    client: &OperatorClient,
    json: bool,
    command: DeliveriesCommand,
) -> Result<(), CliError> {
    match command {
        DeliveriesCommand::List(args) => list(client, json, args).await,
        DeliveriesCommand::Show { event_id } => show(client, json, &event_id).await,
        DeliveriesCommand::Retry(args) => retry::run(client, json, args).await,
        DeliveriesCommand::Replay(args) => match args.event_id {
            Some(event_id) => replay_one(client, json, &event_id).await,
            None => {
                replay_many(
                    client,
                    json,
                    args.filters,
                    args.all_dead,
                    args.include_delivered,
                )
                .await
            }
        },
    }
}

async fn list(client: &OperatorClient, json: bool, args: ListArgs) -> Result<(), CliError> {
    let mut query = args.filters.query();
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = args.cursor {
        query.push(("cursor", cursor));
    }
    let answer = client.get(&["deliveries"], &query).await?;
    emit(json, answer, |page: DeliveryPage| {
        if page.deliveries.is_empty() {
            println!("No deliveries match.");
        } else {
            print!("{}", delivery_table(page.deliveries).render());
        }
        if let Some(cursor) = page.next_cursor {
            println!("More: repeat with --cursor {cursor}");
        }
    })
}

fn delivery_table(deliveries: Vec<DeliveryView>) -> Table {
    let mut rows = Table::new(&[
        "EVENT ID",
        "PARTNER",
        "EVENT TYPE",
        "BRAND/BRANCH",
        "ORDERS",
        "STATE",
        "ATTEMPTS",
        "CREATED",
    ]);
    for delivery in deliveries {
        rows.row(vec![
            delivery.event_id,
            delivery.partner_id,
            delivery.event_type,
            format!("{}/{}", delivery.brand_id, delivery.branch_id),
            order_list(&delivery.order_ids),
            delivery.state,
            delivery.attempt_count.to_string(),
            table::time(&delivery.created_at),
        ]);
    }
    rows
}

async fn show(client: &OperatorClient, json: bool, event_id: &str) -> Result<(), CliError> {
    let answer = client.get(&["deliveries", event_id], &[]).await?;
    emit(json, answer, |detail: DeliveryDetail| {
        print!("{}", summary_fields(&detail));
        println!();
        if detail.attempts.is_empty() {
            println!("No attempts yet.");
        }
        print!(
            "{}",
            show::attempt_blocks(&detail.summary, &detail.attempts)
        );
    })
}

fn summary_fields(detail: &DeliveryDetail) -> String {
    let delivery = &detail.summary;
    let state = match &delivery.dead_reason {
        Some(reason) => format!("{} ({reason})", delivery.state),
        None => delivery.state.clone(),
    };
    table::fields(&[
        ("event id", delivery.event_id.clone()),
        ("partner", delivery.partner_id.clone()),
        ("mapping", delivery.mapping_id.clone()),
        ("event type", delivery.event_type.clone()),
        (
            "brand/branch",
            format!("{}/{}", delivery.brand_id, delivery.branch_id),
        ),
        ("orders", order_list(&delivery.order_ids)),
        ("state", state),
        ("attempts", delivery.attempt_count.to_string()),
        (
            "next attempt",
            table::maybe_time(delivery.next_attempt_at.as_deref()),
        ),
        ("created", table::time(&delivery.created_at)),
        (
            "finished",
            table::maybe_time(delivery.finished_at.as_deref()),
        ),
        ("body", format!("{} bytes", detail.body.len())),
    ])
}

async fn replay_one(client: &OperatorClient, json: bool, event_id: &str) -> Result<(), CliError> {
    let answer = client
        .post(&["deliveries", event_id, "replay"], None)
        .await?;
    emit(json, answer, |delivery: DeliveryView| {
        println!(
            "Replaying {}: it is {} again and will be attempted shortly.",
            delivery.event_id, delivery.state
        );
    })
}

async fn replay_many(
    client: &OperatorClient,
    json: bool,
    filters: Filters,
    all_dead: bool,
    include_delivered: bool,
) -> Result<(), CliError> {
    let mut body = filters.body();
    if body.is_empty() && !all_dead {
        return Err(
            "give an EVENT_ID, at least one filter (--partner, --state, --order, \
                    --event), or --all-dead to replay every dead delivery"
                .into(),
        );
    }
    if include_delivered {
        body.insert("include_delivered".into(), Value::Bool(true));
    }
    let answer = client
        .post(&["deliveries", "replay"], Some(Value::Object(body)))
        .await?;
    emit(json, answer, |answer: Replayed| {
        let noun = |n: u64| if n == 1 { "delivery" } else { "deliveries" };
        println!("Replayed {} {}.", answer.replayed, noun(answer.replayed));
        if answer.skipped_total > 0 {
            println!(
                "Skipped {} {}:",
                answer.skipped_total,
                noun(answer.skipped_total)
            );
            for skipped in &answer.skipped {
                println!("  {}  {}", skipped.event_id, skipped.reason);
            }
            let unlisted = answer.skipped_total - answer.skipped.len() as u64;
            if unlisted > 0 {
                println!("  … and {unlisted} more");
            }
        }
    })
}

impl Filters {
    /// The filters as list query parameters.
    fn query(&self) -> Vec<(&'static str, String)> {
        self.pairs()
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect()
    }

    /// The filters as a bulk-replay body.
    fn body(&self) -> Map<String, Value> {
        self.pairs()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// The given filters under their API names; absent ones are left out.
    fn pairs(&self) -> Vec<(&'static str, Value)> {
        let mut pairs = Vec::new();
        if let Some(partner) = &self.partner {
            pairs.push(("partner_id", json!(partner)));
        }
        if let Some(state) = self.state {
            pairs.push(("state", json!(state.as_str())));
        }
        if let Some(order) = self.order {
            pairs.push(("order_id", json!(order)));
        }
        if let Some(event) = self.event {
            pairs.push(("event_type", json!(event.as_str())));
        }
        pairs
    }
}

/// Order ids, the first few in full and a count of the rest.
fn order_list(ids: &[i64]) -> String {
    const SHOWN: usize = 3;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if ids.len() > SHOWN {
        text.push_str(&format!(" +{}", ids.len() - SHOWN));
    }
    text
}
