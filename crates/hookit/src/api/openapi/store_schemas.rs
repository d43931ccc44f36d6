//! Schemas of the store's values that the operator and ingest APIs answer with. The
//! store knows nothing of OpenAPI, so its types carry no schema; these mirror their
//! serialised shape, field for field and doc for doc, for the document alone.
//! `openapi_e2e.rs` compares the document with its snapshot, and the unit test below
//! checks that each mirror lists exactly the fields its store type serialises.

use crate::store::Millis;
use klikit_webhook::EventType;
use serde::Serialize;
use utoipa::ToSchema;

/// A partner as operators see it: never a secret.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Partner {
    pub id: String,
    pub name: String,
    pub partner_key: String,
    pub enabled: bool,
    /// Which signature headers its deliveries carry.
    #[schema(value_type = super::SignatureSchemeName)]
    pub signature_scheme: String,
    /// When the last webhook-secret rotation with a grace window switches (or
    /// switched) signing from the previous secret to the current one; `None` when the
    /// last rotation switched at once, or none had a grace window.
    pub webhook_secret_switch_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One URL for one (partner, brand, branch, event type) tuple.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Mapping {
    pub id: String,
    pub partner_id: String,
    pub brand_id: i64,
    /// `None` means every branch of the brand; an exact branch mapping wins over it.
    pub branch_id: Option<i64>,
    #[schema(value_type = super::EventTypeName)]
    pub event_type: EventType,
    pub url: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A mapping as the list shows it: with its URL's endpoint health.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ListedMapping {
    #[serde(flatten)]
    pub mapping: Mapping,
    /// The health of the (partner, URL) endpoint this mapping sends to.
    pub endpoint_state: EndpointState,
}

/// The health of an endpoint.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum EndpointState {
    /// Attempts go out as they fall due.
    Healthy,
    /// The circuit is open: one probe per cool-down, nothing else.
    Open,
    /// Nothing is sent until an operator enables it or the mapping's URL changes.
    Disabled,
}

/// One mapped endpoint (partner, URL) and its health.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EndpointHealth {
    pub partner_id: String,
    pub url: String,
    pub state: EndpointState,
    /// When it entered its state; `None` for an endpoint that never failed.
    pub since: Option<Millis>,
    /// The error of its latest failed attempt, while it has one on record.
    pub last_error: Option<String>,
    /// Its deliveries not yet acknowledged nor dead.
    pub pending: u64,
}

/// What deleting a mapping did.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct DeletedMapping {
    pub mapping_id: String,
    /// Deliveries and queued changes that were stopped (kept, marked `mapping_deleted`).
    pub stopped: u64,
}

/// What happened to each pushed change.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct IngestOutcome {
    pub results: Vec<IngestItemResult>,
    /// True when this answer is a replay of the first answer for the idempotency key.
    #[serde(default)]
    pub idempotent_replay: bool,
}

/// The outcome of one pushed change.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct IngestItemResult {
    pub order_id: i64,
    pub event: String,
    /// `stored` or `ignored_stale`.
    pub result: String,
    /// The order's version after this push (unchanged when ignored).
    pub version: i64,
    /// How many partners this change was routed to.
    pub routed_to: u64,
}

/// The state of a delivery as operators see it.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
}

/// One delivery without its body.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct DeliverySummary {
    pub event_id: String,
    pub partner_id: String,
    pub mapping_id: String,
    #[schema(value_type = super::EventTypeName)]
    pub event_type: EventType,
    pub brand_id: i64,
    pub branch_id: i64,
    pub order_ids: Vec<i64>,
    pub state: DeliveryState,
    /// Why a dead delivery died: `retries_exhausted` or `mapping_deleted`.
    pub dead_reason: Option<String>,
    pub attempt_count: u32,
    pub next_attempt_at: Option<Millis>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

/// A page of deliveries.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliverySummary>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One recorded attempt.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub started_at: Millis,
    pub duration_ms: i64,
    pub url: String,
    pub status_code: Option<u16>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// A delivery with its body and attempts.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// The exact body bytes every attempt sends (UTF-8 JSON).
    pub body: String,
    pub attempts: Vec<AttemptRecord>,
}

/// One operator action, written in the same transaction as the action itself.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditEntry {
    pub at: Millis,
    /// The name of the operator token that acted (`root` for the bootstrap token).
    pub actor: String,
    /// What was done, e.g. `partner.created`.
    pub action: String,
    /// What it was done to, e.g. a partner id.
    pub target: String,
    /// More about it; never a secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A page of the audit log.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub page: u32,
    pub size: u32,
    pub total: u64,
}

/// A named operator token, as listed (never its value or hash).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct OperatorToken {
    pub name: String,
    pub created_at: Millis,
    pub created_by: String,
}
#[cfg(test)]
mod tests {
    use crate::store;
    use serde_json::{Value, json};
    use std::collections::BTreeSet;
    use utoipa::PartialSchema;

    fn schema_fields<T: PartialSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).expect("schema as JSON");
        schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect()
    }

    fn value_fields(value: impl serde::Serialize) -> BTreeSet<String> {
        let value: Value = serde_json::to_value(value).expect("serialise");
        value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_mirror_lists_exactly_the_fields_its_store_type_serialises() {
        let summary = store::DeliverySummary {
            event_id: "evt_1".into(),
            partner_id: "prt_1".into(),
            mapping_id: "map_1".into(),
            event_type: klikit_webhook::EventType::OrderCreated,
            brand_id: 1,
            branch_id: 2,
            order_ids: vec![3],
            state: store::DeliveryState::Pending,
            dead_reason: None,
            attempt_count: 0,
            next_attempt_at: None,
            created_at: 0,
            finished_at: None,
        };
        let pairs = [
            (
                schema_fields::<super::Partner>(),
                value_fields(store::Partner {
                    id: "prt_1".into(),
                    name: "A".into(),
                    partner_key: "pk_1".into(),
                    enabled: true,
                    signature_scheme: store::SignatureScheme::Klikit,
                    webhook_secret_switch_at: None,
                    created_at: 0,
                    updated_at: 0,
                }),
            ),
            (
                schema_fields::<super::EndpointHealth>(),
                value_fields(store::EndpointHealth {
                    partner_id: "prt_1".into(),
                    url: "https://a.example/".into(),
                    state: store::EndpointState::Open,
                    since: None,
                    last_error: None,
                    pending: 0,
                }),
            ),
            (
                schema_fields::<super::DeletedMapping>(),
                value_fields(store::DeletedMapping {
                    mapping_id: "map_1".into(),
                    stopped: 0,
                }),
            ),
            (
                schema_fields::<super::IngestItemResult>(),
                value_fields(store::IngestItemResult {
                    order_id: 1,
                    event: "e".into(),
                    result: "stored".into(),
                    version: 1,
                    routed_to: 0,
                }),
            ),
            (
                schema_fields::<super::DeliverySummary>(),
                value_fields(summary),
            ),
            (
                schema_fields::<super::AttemptRecord>(),
                value_fields(store::AttemptRecord {
                    attempt: 1,
                    started_at: 0,
                    duration_ms: 0,
                    url: "https://a.example/".into(),
                    status_code: None,
                    error_kind: None,
                    error: None,
                    response_excerpt: None,
                }),
            ),
            (
                schema_fields::<super::AuditEntry>(),
                value_fields(store::AuditEntry {
                    at: 0,
                    actor: "root".into(),
                    action: "a".into(),
                    target: "t".into(),
                    details: json!({}),
                }),
            ),
            (
                schema_fields::<super::OperatorToken>(),
                value_fields(store::OperatorToken {
                    name: "n".into(),
                    created_at: 0,
                    created_by: "root".into(),
                }),
            ),
        ];
        for (schema, value) in pairs {
            assert_eq!(schema, value, "a mirror drifted from its store type");
        }
    }
}
