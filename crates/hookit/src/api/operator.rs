//! The operator API: partners and their credentials, URL mappings, deliveries,
//! operator tokens and the audit log. Answers are `{"data": …}`; secrets appear only in
//! the answers that create them. Every change is written with its audit entry, naming
//! the operator token that made it.

mod deliveries;
mod partners;
mod tokens;

pub use tokens::ROOT_TOKEN_NAME;

use super::AppState;
use super::error::ApiError;
use crate::ids::IdKind;
use crate::store::{AuditEntry, now_millis};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    use deliveries::*;
    use partners::*;
    use tokens::*;
    Router::new()
        .route("/partners", post(create_partner).get(list_partners))
        .route("/partners/{id}", get(get_partner))
        .route("/partners/{id}/secret/rotate", post(rotate_secret))
        .route(
            "/partners/{id}/webhook-secret/rotate",
            post(rotate_webhook_secret),
        )
        .route("/partners/{id}/disable", post(disable_partner))
        .route("/partners/{id}/enable", post(enable_partner))
        .route(
            "/partners/{id}/mappings",
            get(list_mappings).put(put_mapping),
        )
        .route(
            "/partners/{id}/mappings/{mapping_id}",
            delete(delete_mapping),
        )
        .route("/deliveries", get(list_deliveries))
        .route("/deliveries/replay", post(replay_matching))
        .route("/deliveries/{event_id}", get(get_delivery))
        .route("/deliveries/{event_id}/replay", post(replay_delivery))
        .route("/tokens", post(mint_token).get(list_tokens))
        .route("/tokens/{name}", delete(revoke_token))
        .route("/audit", get(list_audit))
}

/// The operator making a request: the name of the token it presented.
#[derive(Clone, Debug)]
pub struct Operator {
    pub name: String,
}

impl Operator {
    /// An audit entry for an action of this operator, stamped now.
    fn audit(&self, action: &str, target: &str, details: Value) -> AuditEntry {
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
