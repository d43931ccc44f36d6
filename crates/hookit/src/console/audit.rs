//! The audit log for operators: who did what to what, newest first.

use super::ConsoleError;
use super::form::Fields;
use super::layout::{self, Chrome};
use super::session::OperatorSession;
use crate::api::AppState;
use crate::store::AuditQuery;
use axum::extract::{RawQuery, State};
use axum::response::Html;
use maud::html;

const PAGE_SIZE: u32 = 50;

/// `GET /console/audit?actor=&action=&page=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: OperatorSession,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ConsoleError> {
    let fields = Fields::query(query.as_deref());
    let page = match fields.integer("page")? {
        None => 1,
        Some(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
        Some(_) => return Err(ConsoleError::invalid("page", "starts at 1")),
    };
    let audit = state
        .store
        .list_audit(AuditQuery {
            actor: fields.get("actor").map(str::to_owned),
            action: fields.get("action").map(str::to_owned),
            since: None,
            page,
            size: PAGE_SIZE,
        })
        .await?;
    let more = u64::from(page) * u64::from(PAGE_SIZE) < audit.total;
    let mut next = url::form_urlencoded::Serializer::new(String::new());
    for name in ["actor", "action"] {
        if let Some(value) = fields.get(name) {
            next.append_pair(name, value);
        }
    }
    next.append_pair("page", &(page + 1).to_string());
    let content = html! {
        form class="filters" method="get" action="/console/audit" {
            label { "Token name " input name="actor" type="text" value=(fields.get("actor").unwrap_or_default()); }
            label { "Action " input name="action" type="text" placeholder="partner.created" value=(fields.get("action").unwrap_or_default()); }
            button type="submit" { "Filter" }
        }
        p { (audit.total) " entries." }
        div class="scroll" {
            table {
                thead { tr { th { "When" } th { "Token" } th { "Action" } th { "Target" } th { "Details" } } }
                tbody {
                    @for entry in &audit.entries {
                        tr {
                            td { (layout::time(entry.at)) }
                            td { (entry.actor) }
                            td { (entry.action) }
                            td class="mono" { (entry.target) }
                            td class="mono wrap" { (entry.details.to_string()) }
                        }
                    }
                }
            }
        }
        @if more {
            p { a href={ "/console/audit?" (next.finish()) } { "Older entries →" } }
        }
    };
    Ok(layout::page(
        "Audit log",
        Chrome::Operator(&session),
        content,
    ))
}
