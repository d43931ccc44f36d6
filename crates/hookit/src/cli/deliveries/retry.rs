//! `hookit deliveries retry`: send a pending delivery now, under the same event id,
//! without advancing its retry schedule — one by event id, or every pending one
//! matching filters.

use super::{DeliveryView, Filters};
use crate::cli::client::OperatorClient;
use crate::cli::{CliError, emit};
use serde::Deserialize;
use serde_json::Value;

/// Arguments of `hookit deliveries retry`.
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Retry this one pending delivery now (`evt_…`).
    #[arg(conflicts_with_all = ["partner", "state", "order", "event", "all_pending"])]
    event_id: Option<String>,
    #[command(flatten)]
    filters: Filters,
    /// Retry every pending delivery of every partner now.
    #[arg(long, conflicts_with_all = ["partner", "state", "order", "event"])]
    all_pending: bool,
}

#[derive(Deserialize)]
struct Retried {
    retried: u64,
    in_flight: u64,
}

/// Runs `hookit deliveries retry`.
pub async fn run(client: &OperatorClient, json: bool, args: RetryArgs) -> Result<(), CliError> {
    if let Some(event_id) = args.event_id {
        let answer = client
            .post(&["deliveries", &event_id, "retry"], None)
            .await?;
        return emit(json, answer, |delivery: DeliveryView| {
            println!(
                "Retrying {} now (attempt {} is next; the retry schedule is not advanced).",
                delivery.event_id,
                delivery.attempt_count + 1
            );
        });
    }
    let body = args.filters.body();
    if body.is_empty() && !args.all_pending {
        return Err(
            "give an EVENT_ID, at least one filter (--partner, --order, --event), \
                    or --all-pending to retry every pending delivery now"
                .into(),
        );
    }
    let answer = client
        .post(&["deliveries", "retry"], Some(Value::Object(body)))
        .await?;
    emit(json, answer, |answer: Retried| {
        let noun = |n: u64| if n == 1 { "delivery" } else { "deliveries" };
        println!(
            "Retrying {} pending {} now.",
            answer.retried,
            noun(answer.retried)
        );
        if answer.in_flight > 0 {
            println!(
                "Left {} {} alone: an attempt is in flight; its outcome decides what is next.",
                answer.in_flight,
                noun(answer.in_flight)
            );
        }
    })
}
