//! The operator API: partners and their credentials, URL mappings, deliveries,
//! operator tokens and the audit log. Answers are `{"data": …}`; secrets appear only in
//! the answers that create them. Every change is written with its audit entry, naming
//! the operator token that made it.

mod deliveries;
pub(crate) mod endpoints;
pub(crate) mod partners;
mod prune;
pub(crate) mod retry;
mod test_webhook;
mod tokens;
mod webhook_signing;

pub use tokens::ROOT_TOKEN_NAME;

use super::AppState;
use super::error::ApiError;
use crate::ids::IdKind;
use crate::store::{AuditEntry, now_millis};
use axum::Json;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The operator routes; each `routes!` group is one path, its methods and its
/// documentation.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    use deliveries::*;
    use endpoints::*;
    use partners::*;
    use prune::*;
    use retry::*;
    use test_webhook::*;
    use tokens::*;
    use webhook_signing::*;
    OpenApiRouter::new()
        .routes(routes!(create_partner, list_partners))
        .routes(routes!(get_partner, update_partner))
        .routes(routes!(rotate_secret))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(disable_partner))
        .routes(routes!(enable_partner))
        .routes(routes!(list_mappings, put_mapping))
        .routes(routes!(delete_mapping))
        .routes(routes!(list_deliveries))
        .routes(routes!(replay_matching))
        .routes(routes!(get_delivery))
        .routes(routes!(replay_delivery))
        .routes(routes!(retry_delivery))
        .routes(routes!(retry_matching))
        .routes(routes!(mint_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(list_audit))
        .routes(routes!(test_partner_webhook))
        .routes(routes!(list_endpoints))
        .routes(routes!(enable_endpoint))
        .routes(routes!(prune))
}

/// The operator making a request: the name of the token it presented.
#[derive(Clone, Debug)]
pub struct Operator {
    pub name: String,
}

impl Operator {
    /// An audit entry for an action of this operator, stamped now.
    pub(crate) fn audit(&self, action: &str, target: &str, details: Value) -> AuditEntry {
        AuditEntry {
            at: now_millis(),
            actor: self.name.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            details,
        }
    }
}

type Answer = Result<Json<Value>, ApiError>;

fn data(value: impl serde::Serialize) -> Json<Value> {
    Json(json!({ "data": value }))
}

/// Checks the shape of an id before it reaches the store, so a typo is a 400 that
/// says what an id looks like rather than a 404.
fn checked_id(kind: IdKind, id: &str, field: &str) -> Result<(), ApiError> {
    if kind.matches(id) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            format!(
                "must be an id like {}0123…(32 hex digits), got {id:?}",
                kind.prefix()
            ),
        ))
    }
}
