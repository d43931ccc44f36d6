//! Partners, their credentials and their URL mappings.

use super::webhook_signing::parse_scheme;
use super::{Answer, Operator, checked_id, data};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{JsonBody, PathParam};
use crate::api::openapi::{
    DeletedMappingData, ErrorBody, EventTypeName, IssuedPartnerData, MappingData, MappingListData,
    PartnerData, PartnerListData, SecretKeyData, SignatureSchemeName,
};
use crate::credentials::{self, PartnerCredentials, Secret};
use crate::ids::IdKind;
use crate::store::{NewMapping, NewPartner, Partner, SignatureScheme, StoreError, now_millis};
use crate::target_policy;
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use klikit_webhook::EventType;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// A partner to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreatePartner {
    /// A name for people, 1 to 200 characters.
    name: String,
    /// Which signature headers its deliveries carry; `klikit` when left out.
    #[serde(default)]
    #[schema(value_type = Option<SignatureSchemeName>)]
    signature_scheme: Option<String>,
}

/// A partner's name as stored: trimmed, 1 to 200 characters.
pub(crate) fn checked_partner_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

/// Creates a partner with fresh credentials, audited as `operator` — for the API and
/// the console alike. Answers the partner with its two secrets, which exist only here:
/// the store keeps a hash of the API secret and the webhook secret encrypted.
pub(crate) async fn issue_partner(
    state: &AppState,
    operator: &Operator,
    name: String,
    signature_scheme: SignatureScheme,
) -> Result<(Partner, Secret, Secret), StoreError> {
    let PartnerCredentials {
        partner_key,
        secret_key,
        webhook_secret_key,
    } = credentials::generate_partner_credentials();
    let id = IdKind::Partner.generate();
    let audit = operator.audit("partner.created", &id, json!({ "name": name }));
    let partner = state
        .store
        .create_partner(
            NewPartner {
                webhook_secret_encrypted: state
                    .master_key
                    .encrypt(webhook_secret_key.expose().as_bytes(), id.as_bytes()),
                id,
                name,
                partner_key,
                secret_hash: credentials::hash_secret(secret_key.expose()),
                signature_scheme,
                now: now_millis(),
            },
            audit,
        )
        .await?;
    tracing::info!(partner_id = %partner.id, "partner created");
    Ok((partner, secret_key, webhook_secret_key))
}

#[utoipa::path(
    post,
    path = "/partners",
    tag = "operator",
    request_body = CreatePartner,
    responses(
        (status = 201, description = "The partner and its credentials. `secret_key` and `webhook_secret_key` (with its Standard Webhooks form) are shown only in this answer.", body = IssuedPartnerData),
        (status = 400, description = "`request_invalid`: the body is not `{\"name\", \"signature_scheme\"?}`, the name is not 1 to 200 characters, or the scheme is unknown.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn create_partner(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    body: JsonBody<CreatePartner>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = checked_partner_name(&body.value.name)?;
    let signature_scheme = body
        .value
        .signature_scheme
        .as_deref()
        .map(parse_scheme)
        .transpose()?
        .unwrap_or_default();
    let (partner, secret_key, webhook_secret_key) =
        issue_partner(&state, &operator, name, signature_scheme).await?;
    let mut answer = json!(partner);
    answer["secret_key"] = json!(secret_key.expose());
    answer["webhook_secret_key"] = json!(webhook_secret_key.expose());
    answer["webhook_secret_standard"] =
        json!(credentials::standard_webhook_secret(&webhook_secret_key).expose());
    Ok((StatusCode::CREATED, data(answer)))
}

#[utoipa::path(
    get,
    path = "/partners",
    tag = "operator",
    responses((status = 200, description = "Every partner; never a secret.", body = PartnerListData)),
)]
pub(super) async fn list_partners(State(state): State<AppState>) -> Answer {
    Ok(data(state.store.list_partners().await?))
}

#[utoipa::path(
    get,
    path = "/partners/{id}",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    responses(
        (status = 200, description = "The partner.", body = PartnerData),
        (status = 400, description = "`request_invalid`: the id is not a partner id.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
    ),
)]
pub(super) async fn get_partner(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    Ok(data(state.store.get_partner(&id).await?))
}

#[utoipa::path(
    post,
    path = "/partners/{id}/secret/rotate",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    responses(
        (status = 200, description = "The new partner API secret, shown once. The old one stopped working at once; there is no overlap.", body = SecretKeyData),
        (status = 400, description = "`request_invalid`: the id is not a partner id.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
    ),
)]
pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam(id): PathParam<String>,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    let secret_key = credentials::generate_secret_key();
    state
        .store
        .set_secret_hash(
            &id,
            &credentials::hash_secret(secret_key.expose()),
            operator.audit("partner.secret_rotated", &id, json!({})),
        )
        .await?;
    tracing::info!(partner_id = %id, "partner API secret rotated");
    Ok(data(json!({ "secret_key": secret_key.expose() })))
}

#[utoipa::path(
    post,
    path = "/partners/{id}/disable",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    responses(
        (status = 200, description = "The partner, disabled: its credentials stop working.", body = PartnerData),
        (status = 400, description = "`request_invalid`: the id is not a partner id.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
    ),
)]
pub(super) async fn disable_partner(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam(id): PathParam<String>,
) -> Answer {
    set_enabled(state, operator, id, false).await
}

#[utoipa::path(
    post,
    path = "/partners/{id}/enable",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    responses(
        (status = 200, description = "The partner, enabled again.", body = PartnerData),
        (status = 400, description = "`request_invalid`: the id is not a partner id.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
    ),
)]
pub(super) async fn enable_partner(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam(id): PathParam<String>,
) -> Answer {
    set_enabled(state, operator, id, true).await
}

async fn set_enabled(state: AppState, operator: Operator, id: String, enabled: bool) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    let action = if enabled {
        "partner.enabled"
    } else {
        "partner.disabled"
    };
    let partner = state
        .store
        .set_partner_enabled(&id, enabled, operator.audit(action, &id, json!({})))
        .await?;
    tracing::info!(partner_id = %id, enabled, "partner enabled flag changed");
    Ok(data(partner))
}

/// The URL for one (brand, branch, event type) of a partner.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PutMapping {
    brand_id: i64,
    /// Omit (or null) for every branch of the brand; an exact branch mapping wins.
    #[serde(default)]
    branch_id: Option<i64>,
    #[schema(value_type = EventTypeName)]
    event_type: String,
    /// An http(s) URL; private and loopback targets only when the server allows them.
    url: String,
}

#[utoipa::path(
    put,
    path = "/partners/{id}/mappings",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    request_body = PutMapping,
    responses(
        (status = 200, description = "The mapping, created or with its URL replaced: one URL per (partner, brand, branch, event type).", body = MappingData),
        (status = 400, description = "`request_invalid`: a field is missing or wrong (`event_type`, or a `url` that is not an allowed http(s) target).", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn put_mapping(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
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
    let audit = operator.audit(
        "mapping.upserted",
        &id,
        json!({
            "brand_id": brand_id,
            "branch_id": branch_id,
            "event_type": event_type.as_str(),
            "url": url.to_string(),
        }),
    );
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
            audit,
        )
        .await?;
    Ok(data(mapping))
}

#[utoipa::path(
    get,
    path = "/partners/{id}/mappings",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    responses(
        (status = 200, description = "The partner's URL mappings.", body = MappingListData),
        (status = 400, description = "`request_invalid`: the id is not a partner id.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
    ),
)]
pub(super) async fn list_mappings(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    state.store.get_partner(&id).await?;
    let mappings = state.store.list_mappings(Some(&id)).await?;
    let endpoints = state.store.list_endpoints(Some(&id)).await?;
    let listed: Vec<Value> = mappings
        .into_iter()
        .map(|mapping| {
            let health = endpoints
                .iter()
                .find(|e| e.url == mapping.url)
                .map_or(crate::store::EndpointState::Healthy, |e| e.state);
            let mut value = json!(mapping);
            value["endpoint_state"] = json!(health);
            value
        })
        .collect();
    Ok(data(listed))
}

#[utoipa::path(
    delete,
    path = "/partners/{id}/mappings/{mapping_id}",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`)."), ("mapping_id" = String, Path, description = "The mapping id (`map_…`).")),
    responses(
        (status = 200, description = "Deleted; its pending deliveries stopped (kept, marked `mapping_deleted`).", body = DeletedMappingData),
        (status = 400, description = "`request_invalid`: an id is malformed.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner or mapping.", body = ErrorBody),
    ),
)]
pub(super) async fn delete_mapping(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam((id, mapping_id)): PathParam<(String, String)>,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    checked_id(IdKind::Mapping, &mapping_id, "mapping_id")?;
    let deleted = state
        .store
        .delete_mapping(
            &id,
            &mapping_id,
            operator.audit("mapping.deleted", &id, json!({ "mapping_id": mapping_id })),
        )
        .await?;
    Ok(data(deleted))
}
