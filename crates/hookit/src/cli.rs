//! The operator's command line: `hookit partner`, `hookit map`, `hookit deliveries`.
//! A client of the same operator API an operator would call by hand.
//!
//! - [`client`]: finds the operator token and speaks HTTP to a running `hookit serve`.
//! - [`table`]: aligned columns and times for the human output.
//! - `partner`, `map`, `deliveries`, `endpoints`, `audit`, `prune`: one module per command; each prints the server's
//!   `data` as a table by default, or with `--json` the server's answer itself, its body
//!   byte for byte as it came (a command that makes several calls prints a JSON array of
//!   their answers, in order: see [`AnswerList`]).

mod audit;
pub mod client;
mod deliveries;
mod endpoints;
mod map;
mod partner;
mod prune;
pub mod table;

use client::{Answer, OperatorClient};
use klikit_webhook::EventType;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::Write as _;
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
    /// Print the server's answer exactly as it came, `{"data": …}` (or, on a failure,
    /// `{"error": …}`), for scripts, instead of a table. A command that makes several
    /// calls (`map --event all`, `map list` without --partner) prints a JSON array of
    /// their answers, in order.
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

/// Arguments of `hookit endpoints`.
#[derive(Debug, clap::Args)]
pub struct EndpointsArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: endpoints::EndpointsCommand,
}

/// Runs `hookit endpoints …`.
pub async fn endpoints(args: EndpointsArgs) -> Result<(), CliError> {
    let client = OperatorClient::connect(&args.server)?;
    endpoints::run(&client, args.server.json, args.command).await
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
    let json = args.server.json;
    let run = async {
        let client = OperatorClient::connect(&args.server)?;
        audit::run(&client, json, args.filters).await
    };
    answered(json, run.await)
}

/// The error a command ends with; printed as `error: …`.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `hookit partner …`.
pub async fn partner(args: PartnerArgs) -> Result<(), CliError> {
    let json = args.server.json;
    let run = async {
        let client = OperatorClient::connect(&args.server)?;
        partner::run(&client, json, args.command).await
    };
    answered(json, run.await)
}

/// Runs `hookit map …`.
pub async fn map(args: MapArgs) -> Result<(), CliError> {
    if args.command.is_some() && args.put.any_given() {
        return Err("the flags of a new mapping cannot be combined with a subcommand; \
                    write `hookit map list --partner ID` or `hookit map delete MAPPING_ID --partner ID`"
            .into());
    }
    let json = args.server.json;
    let run = async {
        let client = OperatorClient::connect(&args.server)?;
        match args.command {
            Some(command) => map::run(&client, json, command).await,
            None => map::put(&client, json, args.put).await,
        }
    };
    answered(json, run.await)
}

/// Runs `hookit deliveries …`.
pub async fn deliveries(args: DeliveriesArgs) -> Result<(), CliError> {
    let json = args.server.json;
    let run = async {
        let client = OperatorClient::connect(&args.server)?;
        deliveries::run(&client, json, args.command).await
    };
    answered(json, run.await)
}

/// With `--json`, a command that ends on an error the server answered with prints that
/// answer too, as it came (the message a person reads still goes to stderr).
fn answered(json: bool, result: Result<(), CliError>) -> Result<(), CliError> {
    if let Err(err) = &result {
        let answer = err
            .downcast_ref::<ClientError>()
            .and_then(ClientError::answer_body);
        if let (true, Some(body)) = (json, answer) {
            print_body(body)?;
        }
    }
    result
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

/// Prints the answer's body exactly as the server sent it when `json` is set; otherwise
/// decodes its `data` and hands it to `human`, which prints it for a person.
fn emit<T: DeserializeOwned>(
    json: bool,
    answer: Answer,
    human: impl FnOnce(T),
) -> Result<(), CliError> {
    if json {
        print_body(&answer.body)?;
    } else {
        human(decode(answer.data)?);
    }
    Ok(())
}

/// Prints one answer body for `--json`, exactly as it came, then a newline.
fn print_body(body: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(body.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The answers of a command that makes several calls, which `--json` prints as one JSON
/// array: every answer in the order of the calls, each body as the server sent it. A
/// failed call's error answer ends the array.
#[derive(Debug, Default)]
struct AnswerList {
    bodies: Vec<String>,
}

impl AnswerList {
    /// Keeps one call's answer.
    fn push(&mut self, answer: &Answer) {
        self.bodies.push(answer.body.clone());
    }

    /// Prints the array (of one answer too, so that its shape never depends on how
    /// many calls were made), then a newline.
    fn print(&self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(b"[")?;
        for (index, body) in self.bodies.iter().enumerate() {
            if index > 0 {
                out.write_all(b",")?;
            }
            out.write_all(body.as_bytes())?;
        }
        out.write_all(b"]\n")?;
        out.flush()
    }

    /// Ends the command on `err`. With `--json`, when the server answered the failed
    /// call, prints the array with that answer last (and marks the error as printed).
    fn fail(mut self, json: bool, err: impl Into<CliError>) -> CliError {
        let err = err.into();
        let answer = err
            .downcast_ref::<ClientError>()
            .and_then(ClientError::answer_body)
            .map(str::to_owned);
        match (json, answer) {
            (true, Some(body)) => {
                self.bodies.push(body);
                if let Err(print) = self.print() {
                    return print.into();
                }
                Box::new(AnswersPrinted(err))
            }
            _ => err,
        }
    }
}

/// An error whose answer `--json` already printed inside an [`AnswerList`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct AnswersPrinted(CliError);

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
