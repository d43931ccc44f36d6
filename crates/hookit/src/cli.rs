//! The operator's command line: `hookit partner`, `hookit map`, `hookit deliveries`.
//! A client of the same operator API an operator would call by hand.
//!
//! - [`client`]: finds the operator token and speaks HTTP to a running `hookit serve`.
//! - [`table`]: aligned columns and times for the human output.
//! - `partner`, `map`, `deliveries`, `audit`, `prune`: one module per command; each prints the server's
//!   `data` as a table by default, or as pretty JSON with `--json`.

mod audit;
pub mod client;
mod deliveries;
mod map;
mod partner;
mod prune;
pub mod table;

use client::OperatorClient;
use klikit_webhook::EventType;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::PathBuf;

pub use client::ClientError;
pub use prune::{DbArgs, PruneArgs, db, prune};

/// Where the server is and how to talk to it; shared by every operator command.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// Base URL of the running `hookit serve`.
    #[arg(
        long,
        env = "HOOKIT_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// The server's data directory; the operator token is read from
    /// `<data dir>/operator-token` unless HOOKIT_OPERATOR_TOKEN is set.
    #[arg(
        long,
        env = "HOOKIT_DATA_DIR",
        default_value = "./hookit-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Print the server's answer as pretty JSON (for scripts) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Arguments of `hookit partner`.
#[derive(Debug, clap::Args)]
pub struct PartnerArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: partner::PartnerCommand,
}

/// Arguments of `hookit map`: either the flags of a new mapping, or a subcommand.
///
/// Not `args_conflicts_with_subcommands`: that would also refuse the shared options
/// before a subcommand (`hookit map --json list`), so [`map`] refuses the mixture itself.
#[derive(Debug, clap::Args)]
#[command(subcommand_negates_reqs = true)]
pub struct MapArgs {
    #[command(flatten)]
    put: map::PutMappingArgs,
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: Option<map::MapCommand>,
}

/// Arguments of `hookit deliveries`.
#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: deliveries::DeliveriesCommand,
}

/// Arguments of `hookit audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    filters: audit::AuditFilters,
}

/// Runs `hookit audit`.
pub async fn audit(args: AuditArgs) -> Result<(), CliError> {
    let client = OperatorClient::connect(&args.server)?;
    audit::run(&client, args.server.json, args.filters).await
}

/// The error a command ends with; printed as `error: …`.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `hookit partner …`.
pub async fn partner(args: PartnerArgs) -> Result<(), CliError> {
    let client = OperatorClient::connect(&args.server)?;
    partner::run(&client, args.server.json, args.command).await
}

/// Runs `hookit map …`.
pub async fn map(args: MapArgs) -> Result<(), CliError> {
    if args.command.is_some() && args.put.any_given() {
        return Err("the flags of a new mapping cannot be combined with a subcommand; \
                    write `hookit map list --partner ID` or `hookit map delete MAPPING_ID --partner ID`"
            .into());
    }
    let client = OperatorClient::connect(&args.server)?;
    match args.command {
        Some(command) => map::run(&client, args.server.json, command).await,
        None => map::put(&client, args.server.json, args.put).await,
    }
}

/// Runs `hookit deliveries …`.
pub async fn deliveries(args: DeliveriesArgs) -> Result<(), CliError> {
    let client = OperatorClient::connect(&args.server)?;
    deliveries::run(&client, args.server.json, args.command).await
}

/// Parses an event type given on the command line: a wire name, or one of the short
/// forms `created`, `status`, `cart`.
pub fn parse_event_type(text: &str) -> Result<EventType, String> {
    let wire = match text {
        "created" => EventType::OrderCreated.as_str(),
        "status" => EventType::OrderStatusUpdated.as_str(),
        "cart" => EventType::OrderCartUpdated.as_str(),
        other => other,
    };
    wire.parse::<EventType>()
        .map_err(|err| format!("{err}, or the short forms created, status, cart"))
}

/// Prints `data` as pretty JSON when `json` is set; otherwise decodes it and hands it to
/// `human`, which prints it for a person.
fn emit<T: DeserializeOwned>(
    json: bool,
    data: Value,
    human: impl FnOnce(T),
) -> Result<(), CliError> {
    if json {
        println!("{}", serde_json::to_string_pretty(&data)?);
    } else {
        human(decode(data)?);
    }
    Ok(())
}

/// Decodes the server's `data` into the shape a command expects.
fn decode<T: DeserializeOwned>(data: Value) -> Result<T, ClientError> {
    serde_path_to_error::deserialize(data).map_err(|err| ClientError::UnexpectedAnswer {
        detail: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_wire_event_names_parse() {
        assert_eq!(parse_event_type("created"), Ok(EventType::OrderCreated));
        assert_eq!(
            parse_event_type("status"),
            Ok(EventType::OrderStatusUpdated)
        );
        assert_eq!(
            parse_event_type("klikit.order.cart.updated"),
            Ok(EventType::OrderCartUpdated)
        );
        assert!(parse_event_type("deleted").is_err());
    }
}
