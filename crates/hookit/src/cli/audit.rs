//! `hookit audit`: the operator actions recorded by the server, newest first.

use super::client::OperatorClient;
use super::table::{self, Table};
use super::{CliError, emit};
use serde::Deserialize;
use serde_json::Value;

/// Filters and paging of `hookit audit`; every filter narrows.
#[derive(Debug, clap::Args)]
pub struct AuditFilters {
    /// Only what this operator token did (`root`, or a minted token's name).
    #[arg(long)]
    token: Option<String>,
    /// Only this action (`partner.created`, `partner.disabled`, `mapping.upserted`, …).
    #[arg(long)]
    action: Option<String>,
    /// Only entries at or after this time (RFC 3339, e.g. 2026-12-02T09:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// The page, from 1.
    #[arg(long, default_value_t = 1)]
    page: u32,
    /// Entries per page, 1 to 500.
    #[arg(long, default_value_t = 50)]
    size: u32,
}

#[derive(Deserialize)]
struct AuditPage {
    entries: Vec<Entry>,
    page: u32,
    total: u64,
}

#[derive(Deserialize)]
struct Entry {
    at: String,
    actor: String,
    action: String,
    target: String,
    details: Value,
}

/// Runs `hookit audit`.
pub async fn run(
    client: &OperatorClient,
    json: bool,
    filters: AuditFilters,
) -> Result<(), CliError> {
    let mut query = vec![
        ("page", filters.page.to_string()),
        ("size", filters.size.to_string()),
    ];
    for (name, value) in [
        ("actor", filters.token),
        ("action", filters.action),
        ("since", filters.since),
    ] {
        if let Some(value) = value {
            query.push((name, value));
        }
    }
    let answer = client.get(&["audit"], &query).await?;
    emit(json, answer, |page: AuditPage| {
        if page.entries.is_empty() {
            println!(
                "No audit entries match (page {}, {} in all).",
                page.page, page.total
            );
            return;
        }
        let mut rows = Table::new(&["TIME", "TOKEN", "ACTION", "TARGET", "DETAILS"]);
        let shown = page.entries.len();
        for entry in page.entries {
            rows.row(vec![
                table::time(&entry.at),
                entry.actor,
                entry.action,
                entry.target,
                entry.details.to_string(),
            ]);
        }
        print!("{}", rows.render());
        println!("page {}: {shown} of {} matching", page.page, page.total);
    })
}
