//! The operator API: partners and their credentials, URL mappings, deliveries.
//! Answers are `{"data": …}`; the two partner secrets appear only in the answers that
//! create them.

use super::AppState;
use super::error::ApiError;
use super::extract::{JsonBody, PathParam, QueryParams, RawBody, parse_json};
use crate::credentials::{self, PartnerCredentials};
use crate::dispatcher::target_policy;
use crate::ids::IdKind;
use crate::store::{DeliveryFilter, DeliveryState, NewMapping, NewPartner, now_millis};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use klikit_webhook::EventType;
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePartner {
    name: String,
}

async fn create_partner(
    State(state): State<AppState>,
    body: JsonBody<CreatePartner>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = body.value.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 200 characters",
        ));
    }
    let PartnerCredentials {
        partner_key,
        secret_key,
        webhook_secret_key,
    } = credentials::generate_partner_credentials();
    let id = IdKind::Partner.generate();
    let partner = state
        .store
        .create_partner(NewPartner {
            webhook_secret_encrypted: state
                .master_key
                .encrypt(webhook_secret_key.expose().as_bytes(), id.as_bytes()),
            id,
            name,
            partner_key,
            secret_hash: credentials::hash_secret(secret_key.expose()),
            now: now_millis(),
        })
        .await?;
    tracing::info!(partner_id = %partner.id, "partner created");
    let mut answer = json!(partner);
    answer["secret_key"] = json!(secret_key.expose());
    answer["webhook_secret_key"] = json!(webhook_secret_key.expose());
    Ok((StatusCode::CREATED, data(answer)))
}

async fn list_partners(State(state): State<AppState>) -> Answer {
    Ok(data(state.store.list_partners().await?))
}

async fn get_partner(State(state): State<AppState>, PathParam(id): PathParam<String>) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    Ok(data(state.store.get_partner(&id).await?))
}

async fn rotate_secret(State(state): State<AppState>, PathParam(id): PathParam<String>) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    let secret_key = credentials::generate_secret_key();
    state
        .store
        .set_secret_hash(
            &id,
            &credentials::hash_secret(secret_key.expose()),
            now_millis(),
        )
        .await?;
    tracing::info!(partner_id = %id, "partner API secret rotated");
    Ok(data(json!({ "secret_key": secret_key.expose() })))
}

async fn rotate_webhook_secret(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    let secret = credentials::generate_webhook_secret();
    let encrypted = state
        .master_key
        .encrypt(secret.expose().as_bytes(), id.as_bytes());
    state
        .store
        .set_webhook_secret(&id, &encrypted, now_millis())
        .await?;
    tracing::info!(partner_id = %id, "partner webhook secret rotated");
    Ok(data(json!({ "webhook_secret_key": secret.expose() })))
}

async fn disable_partner(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Answer {
    set_enabled(state, id, false).await
}

async fn enable_partner(State(state): State<AppState>, PathParam(id): PathParam<String>) -> Answer {
    set_enabled(state, id, true).await
}

async fn set_enabled(state: AppState, id: String, enabled: bool) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    let partner = state
        .store
        .set_partner_enabled(&id, enabled, now_millis())
        .await?;
    tracing::info!(partner_id = %id, enabled, "partner enabled flag changed");
    Ok(data(partner))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutMapping {
    brand_id: i64,
    #[serde(default)]
    branch_id: Option<i64>,
    event_type: String,
    url: String,
}

async fn put_mapping(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    body: JsonBody<PutMapping>,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    let PutMapping {
        brand_id,
        branch_id,
        event_type,
        url,
    } = body.value;
    let event_type: EventType = event_type
        .parse()
        .map_err(|err| ApiError::invalid_field("event_type", err))?;
    let url = target_policy::validate_target_url(&url, state.allow_private_targets)
        .map_err(|err| ApiError::invalid_field("url", err))?;
    let mapping = state
        .store
        .upsert_mapping(
            NewMapping {
                id: IdKind::Mapping.generate(),
                partner_id: id,
                brand_id,
                branch_id,
                event_type,
                url: url.to_string(),
            },
            now_millis(),
        )
        .await?;
    Ok(data(mapping))
}

async fn list_mappings(State(state): State<AppState>, PathParam(id): PathParam<String>) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    state.store.get_partner(&id).await?;
    Ok(data(state.store.list_mappings(Some(&id)).await?))
}

async fn delete_mapping(
    State(state): State<AppState>,
    PathParam((id, mapping_id)): PathParam<(String, String)>,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    checked_id(IdKind::Mapping, &mapping_id, "mapping_id")?;
    let deleted = state
        .store
        .delete_mapping(&id, &mapping_id, now_millis())
        .await?;
    Ok(data(deleted))
}

/// Query parameters (and bulk-replay body) selecting deliveries.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    partner_id: Option<String>,
    state: Option<String>,
    event_type: Option<String>,
    order_id: Option<i64>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl DeliveryQuery {
    fn into_filter(self) -> Result<DeliveryFilter, ApiError> {
        if let Some(partner_id) = &self.partner_id {
            checked_id(IdKind::Partner, partner_id, "partner_id")?;
        }
        if let Some(cursor) = &self.cursor {
            checked_id(IdKind::Event, cursor, "cursor")?;
        }
        let state = self
            .state
            .map(|state| {
                DeliveryState::parse(&state).ok_or_else(|| {
                    ApiError::invalid_field("state", "must be one of pending, delivered, dead")
                })
            })
            .transpose()?;
        let event_type = self
            .event_type
            .map(|event| event.parse::<EventType>())
            .transpose()
            .map_err(|err| ApiError::invalid_field("event_type", err))?;
        let limit = self.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                "must be between 1 and 1000",
            ));
        }
        Ok(DeliveryFilter {
            partner_id: self.partner_id,
            state,
            event_type,
            order_id: self.order_id,
            created_from: self
                .from
                .as_deref()
                .map(|t| parse_time("from", t))
                .transpose()?,
            created_to: self
                .to
                .as_deref()
                .map(|t| parse_time("to", t))
                .transpose()?,
            limit,
            before: self.cursor,
        })
    }
}

fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|err| ApiError::invalid_field(field, format!("must be an RFC 3339 time: {err}")))
}

async fn list_deliveries(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DeliveryQuery>,
) -> Answer {
    let page = state.store.list_deliveries(query.into_filter()?).await?;
    Ok(data(page))
}

async fn get_delivery(
    State(state): State<AppState>,
    PathParam(event_id): PathParam<String>,
) -> Answer {
    checked_id(IdKind::Event, &event_id, "event_id")?;
    let detail = state
        .store
        .get_delivery(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("delivery {event_id}")))?;
    Ok(data(detail))
}

async fn replay_delivery(
    State(state): State<AppState>,
    PathParam(event_id): PathParam<String>,
) -> Answer {
    checked_id(IdKind::Event, &event_id, "event_id")?;
    let summary = state.store.replay_delivery(&event_id, now_millis()).await?;
    tracing::info!(event_id = %event_id, "delivery replayed");
    Ok(data(summary))
}

/// Bulk replay. The body is a filter like the list query's; an empty body replays
/// every dead delivery.
async fn replay_matching(State(state): State<AppState>, RawBody(raw): RawBody) -> Answer {
    let query: DeliveryQuery = if raw.iter().all(u8::is_ascii_whitespace) {
        DeliveryQuery::default()
    } else {
        parse_json(&raw)?
    };
    if query.cursor.is_some() || query.limit.is_some() {
        return Err(ApiError::invalid_field(
            "cursor",
            "and `limit` do not apply to a bulk replay; it replays every match",
        ));
    }
    let filter = query.into_filter()?;
    let replayed = state.store.replay_matching(filter, now_millis()).await?;
    tracing::info!(replayed, "deliveries replayed in bulk");
    Ok(data(json!({ "replayed": replayed })))
}
