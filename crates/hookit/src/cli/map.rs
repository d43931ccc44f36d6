//! `hookit map`: point a partner's (brand, branch, event type) at a URL, list the
//! mappings, delete one.

use super::client::{Answer, OperatorClient};
use super::partner;
use super::table::{self, Table};
use super::{AnswerList, CliError, ClientError, decode, emit, parse_event_type};
use klikit_webhook::EventType;
use serde::Deserialize;
use serde_json::{Value, json};

/// The flags of `hookit map` without a subcommand: create or replace one mapping.
#[derive(Debug, clap::Args)]
pub struct PutMappingArgs {
    /// The partner id (`prt_…`).
    #[arg(long, required = true)]
    partner: Option<String>,
    /// The brand id the mapping is for.
    #[arg(long, required = true)]
    brand: Option<i64>,
    /// One branch of the brand; without it the URL serves every branch (an exact
    /// branch mapping wins).
    #[arg(long)]
    branch: Option<i64>,
    /// The event type: a wire name, or created, status, cart; several separated by
    /// commas (`created,status`), or `all` for the three. Several are several calls:
    /// with --json, a JSON array of their answers, in the order given.
    #[arg(long, required = true, value_parser = parse_event_types)]
    event: Option<EventTypes>,
    /// The partner's webhook URL.
    #[arg(long, required = true)]
    url: Option<String>,
}

impl PutMappingArgs {
    /// Whether any flag of a new mapping was given.
    pub fn any_given(&self) -> bool {
        self.partner.is_some()
            || self.brand.is_some()
            || self.branch.is_some()
            || self.event.is_some()
            || self.url.is_some()
    }
}

/// The event types one `hookit map` maps, in the order given, without repeats.
#[derive(Debug, Clone)]
pub struct EventTypes(Vec<EventType>);

/// `all`, or a comma list of event types (each as [`parse_event_type`] reads it).
fn parse_event_types(text: &str) -> Result<EventTypes, String> {
    if text.trim() == "all" {
        return Ok(EventTypes(vec![
            EventType::OrderCreated,
            EventType::OrderStatusUpdated,
            EventType::OrderCartUpdated,
        ]));
    }
    let mut events = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            return Err("an empty event type in the list; give e.g. created,status or all".into());
        }
        let event = parse_event_type(part)?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(EventTypes(events))
}

/// The `hookit map` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum MapCommand {
    /// List mappings: one partner's, or every partner's (with --json, a JSON array of
    /// each partner's answer, in the order of `partner list`).
    List {
        /// Only this partner's mappings.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Delete a mapping; its unfinished deliveries stop (kept, marked dead).
    Delete {
        /// The mapping id (`map_…`).
        mapping_id: String,
        /// The partner that owns it; found by searching every partner when omitted.
        #[arg(long)]
        partner: Option<String>,
    },
}

/// A mapping as the operator API returns it.
#[derive(Debug, Deserialize)]
struct MappingView {
    id: String,
    partner_id: String,
    brand_id: i64,
    branch_id: Option<i64>,
    event_type: String,
    url: String,
    updated_at: String,
    /// The URL's endpoint health (in lists only).
    #[serde(default)]
    endpoint_state: Option<String>,
}

#[derive(Deserialize)]
struct DeletedMapping {
    mapping_id: String,
    stopped: u64,
}

/// Runs one `hookit map` subcommand.
pub async fn run(client: &OperatorClient, json: bool, command: MapCommand) -> Result<(), CliError> {
    match command {
        MapCommand::List { partner } => list(client, json, partner.as_deref()).await,
        MapCommand::Delete {
            mapping_id,
            partner,
        } => delete(client, json, &mapping_id, partner).await,
    }
}

/// `hookit map --partner … --brand … --event … --url …`.
pub async fn put(
    client: &OperatorClient,
    json: bool,
    args: PutMappingArgs,
) -> Result<(), CliError> {
    let (Some(partner), Some(brand), Some(event), Some(url)) =
        (args.partner, args.brand, args.event, args.url)
    else {
        return Err(
            "give --partner, --brand, --event and --url, or a subcommand (list, delete)".into(),
        );
    };
    let events = &event.0;
    let mut answers = AnswerList::default();
    // What is mapped now, to say which of these replace a URL (a look-up, not printed).
    let existing = match client.get(&["partners", &partner, "mappings"], &[]).await {
        Ok(answer) => decode::<Vec<MappingView>>(answer.data),
        Err(err) if events.len() > 1 => return Err(answers.fail(json, err)),
        Err(err) => return Err(err.into()),
    };
    let existing = existing.map_err(|err| ClientError::UnexpectedAnswer {
        detail: format!("the partner's mappings are not readable: {err}"),
    })?;
    let mut mapped: Vec<(Answer, Option<String>)> = Vec::with_capacity(events.len());
    for event in events {
        let mut body = json!({ "brand_id": brand, "event_type": event.as_str(), "url": url });
        if let Some(branch) = args.branch {
            body["branch_id"] = json!(branch);
        }
        let answer = match client.put(&["partners", &partner, "mappings"], body).await {
            Ok(answer) => answer,
            Err(err) if events.len() > 1 => return Err(answers.fail(json, err)),
            Err(err) => return Err(err.into()),
        };
        answers.push(&answer);
        let before = existing
            .iter()
            .find(|m| {
                m.brand_id == brand && m.branch_id == args.branch && m.event_type == event.as_str()
            })
            .map(|m| m.url.clone());
        mapped.push((answer, before));
    }
    if json && events.len() > 1 {
        answers.print()?;
        return Ok(());
    }
    for (answer, before) in mapped {
        emit(json, answer, |mapping: MappingView| {
            let what = format!(
                "{} for brand {}, {}, of partner {}",
                mapping.event_type,
                mapping.brand_id,
                branch_text(mapping.branch_id),
                mapping.partner_id
            );
            match before {
                Some(old) if old == mapping.url => {
                    println!("{what} was already mapped to {}", mapping.url);
                }
                Some(old) => println!("Re-mapped {what} from {old} to {}", mapping.url),
                None => println!("Mapped {what} to {}", mapping.url),
            }
            println!("mapping id: {}", mapping.id);
        })?;
    }
    Ok(())
}

async fn list(client: &OperatorClient, json: bool, partner: Option<&str>) -> Result<(), CliError> {
    let (answers, mappings) = match partner {
        Some(partner) => {
            let answer = client.get(&["partners", partner, "mappings"], &[]).await?;
            return emit(json, answer, print_mappings);
        }
        None => every_mapping(client, json).await?,
    };
    if json {
        answers.print()?;
    } else {
        print_mappings(decode(Value::Array(mappings))?);
    }
    Ok(())
}

fn print_mappings(mappings: Vec<MappingView>) {
    if mappings.is_empty() {
        println!(
            "No mappings yet; add one with `hookit map --partner ID --brand B --event E --url URL`."
        );
        return;
    }
    let mut rows = Table::new(&[
        "ID", "PARTNER", "BRAND", "BRANCH", "EVENT", "URL", "STATE", "UPDATED",
    ]);
    for mapping in mappings {
        rows.row(vec![
            mapping.id,
            mapping.partner_id,
            mapping.brand_id.to_string(),
            mapping
                .branch_id
                .map_or_else(|| "*".into(), |b| b.to_string()),
            mapping.event_type,
            mapping.url,
            mapping.endpoint_state.unwrap_or_else(|| "healthy".into()),
            table::time(&mapping.updated_at),
        ]);
    }
    print!("{}", rows.render());
}

/// Every partner's mappings, asked partner by partner: the answers (one per partner, in
/// the order of the partner list, which is a look-up and not among them) and the
/// mappings they hold.
async fn every_mapping(
    client: &OperatorClient,
    json: bool,
) -> Result<(AnswerList, Vec<Value>), CliError> {
    let mut answers = AnswerList::default();
    let partners = match partner::fetch_all(client).await {
        Ok(partners) => partners,
        Err(err) => return Err(answers.fail(json, err)),
    };
    let mut all = Vec::new();
    for partner in partners {
        let answer = match client
            .get(&["partners", &partner.id, "mappings"], &[])
            .await
        {
            Ok(answer) => answer,
            Err(err) => return Err(answers.fail(json, err)),
        };
        answers.push(&answer);
        match answer.data {
            Value::Array(mappings) => all.extend(mappings),
            other => {
                return Err(ClientError::UnexpectedAnswer {
                    detail: format!("mappings of {} are not a list: {other}", partner.id),
                }
                .into());
            }
        }
    }
    Ok((answers, all))
}

async fn delete(
    client: &OperatorClient,
    json: bool,
    mapping_id: &str,
    partner: Option<String>,
) -> Result<(), CliError> {
    let partner = match partner {
        Some(partner) => partner,
        None => owner_of(client, mapping_id).await?,
    };
    let answer = client
        .delete(&["partners", &partner, "mappings", mapping_id])
        .await?;
    emit(json, answer, |deleted: DeletedMapping| {
        println!(
            "Deleted mapping {} of partner {partner}; {} unfinished deliveries stopped.",
            deleted.mapping_id, deleted.stopped
        );
    })
}

/// The partner a mapping belongs to, found by listing every partner's mappings.
async fn owner_of(client: &OperatorClient, mapping_id: &str) -> Result<String, CliError> {
    // Look-ups: with --json only the deletion's answer is printed.
    let (_, mappings) = every_mapping(client, false).await?;
    let mappings: Vec<MappingView> = decode(Value::Array(mappings))?;
    mappings
        .into_iter()
        .find(|mapping| mapping.id == mapping_id)
        .map(|mapping| mapping.partner_id)
        .ok_or_else(|| {
            format!("no partner has a mapping {mapping_id:?}; see `hookit map list` for the ids")
                .into()
        })
}

fn branch_text(branch: Option<i64>) -> String {
    match branch {
        Some(branch) => format!("branch {branch}"),
        None => "every branch".into(),
    }
}
