//! `hookit endpoints`: every mapped endpoint (partner, URL) with its health, and
//! enabling one whose circuit is open or that hookit disabled.

use super::client::OperatorClient;
use super::table::{self, Table};
use super::{CliError, emit};
use serde::Deserialize;
use serde_json::json;

/// The `hookit endpoints` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum EndpointsCommand {
    /// List endpoints with their state (healthy, open, disabled), since when, the
    /// latest error and what is pending.
    List {
        /// Only this partner's endpoints.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Make an endpoint healthy again: its waiting deliveries go out.
    Enable {
        /// The partner id (`prt_…`).
        #[arg(long)]
        partner: String,
        /// The URL, as the partner's mapping has it.
        #[arg(long)]
        url: String,
    },
}

/// An endpoint as the operator API returns it.
#[derive(Debug, Deserialize)]
struct EndpointView {
    partner_id: String,
    url: String,
    state: String,
    since: Option<String>,
    last_error: Option<String>,
    pending: u64,
}

/// Runs one `hookit endpoints` subcommand.
pub async fn run(
    client: &OperatorClient,
    json: bool,
    command: EndpointsCommand,
) -> Result<(), CliError> {
    match command {
        EndpointsCommand::List { partner } => {
            let query: Vec<(&str, String)> =
                partner.map(|p| ("partner_id", p)).into_iter().collect();
            let data = client.get(&["endpoints"], &query).await?;
            emit(json, data, print_list)
        }
        EndpointsCommand::Enable { partner, url } => {
            let body = json!({ "partner_id": partner, "url": url });
            let data = client.post(&["endpoints", "enable"], Some(body)).await?;
            emit(json, data, |endpoint: EndpointView| {
                println!(
                    "Enabled {} of partner {}: {}; {} pending deliveries go out as they fall due.",
                    endpoint.url, endpoint.partner_id, endpoint.state, endpoint.pending
                );
            })
        }
    }
}

fn print_list(endpoints: Vec<EndpointView>) {
    if endpoints.is_empty() {
        println!(
            "No endpoints yet; map a URL with `hookit map --partner ID --brand B --event E --url URL`."
        );
        return;
    }
    let mut rows = Table::new(&["PARTNER", "URL", "STATE", "SINCE", "PENDING", "LAST ERROR"]);
    for endpoint in endpoints {
        rows.row(vec![
            endpoint.partner_id,
            endpoint.url,
            endpoint.state,
            table::maybe_time(endpoint.since.as_deref()),
            endpoint.pending.to_string(),
            endpoint
                .last_error
                .map_or_else(|| "-".into(), |e| table::clip(&e, 60)),
        ]);
    }
    print!("{}", rows.render());
}
