//! How a partner's webhooks are signed: rotating the webhook secret (at once, or with
//! a grace window during which the previous secret keeps signing) and the partner's
//! signature scheme.

use super::{Answer, Operator, checked_id, data};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{PathParam, RawBody, parse_json};
use crate::api::openapi::{ErrorBody, PartnerData, SignatureSchemeName, WebhookSecretKeyData};
use crate::config::{format_duration, parse_duration};
use crate::credentials;
use crate::ids::IdKind;
use crate::store::{PartnerUpdate, SignatureScheme, WebhookSecretRotation};
use axum::Extension;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use utoipa::ToSchema;

/// The longest grace window a webhook-secret rotation may ask for.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Options of a webhook-secret rotation; the body may be left out.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateWebhookSecret {
    /// How long hookit keeps signing `x-klikit-signature` with the previous secret
    /// (`250ms`, `30s`, `24h`, `7d`; at most 7d). Left out (or `0s`): the next attempt
    /// is signed with the new secret.
    #[serde(default)]
    grace: Option<String>,
}

#[utoipa::path(
    post,
    path = "/partners/{id}/webhook-secret/rotate",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    request_body(content = Option<RotateWebhookSecret>, description = "Optional: `{\"grace\": \"24h\"}` keeps the previous secret signing until the grace ends. A rotation inside an open grace window ends that window first: the secret it led to becomes the previous one, so at most two secrets are live."),
    responses(
        (status = 200, description = "The new webhook signing key, shown once, with the time from which `x-klikit-signature` is made with it (now, without a grace).", body = WebhookSecretKeyData),
        (status = 400, description = "`request_invalid`: the id is not a partner id, or `grace` is not a duration of at most 7d.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
    ),
)]
pub(super) async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam(id): PathParam<String>,
    RawBody(raw): RawBody,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    let grace = if raw.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        parse_json::<RotateWebhookSecret>(&raw)?
            .grace
            .map(|grace| parse_grace(&grace))
            .transpose()?
            .filter(|grace| !grace.is_zero())
    };
    let secret = credentials::generate_webhook_secret();
    let audit = operator.audit(
        "partner.webhook_secret_rotated",
        &id,
        json!({ "grace": grace.map(format_duration) }),
    );
    let now = audit.at;
    let switch_at = grace.map(|grace| now + grace.as_millis() as i64);
    let rotation = WebhookSecretRotation {
        encrypted: state
            .master_key
            .encrypt(secret.expose().as_bytes(), id.as_bytes()),
        switch_at,
    };
    state.store.set_webhook_secret(&id, rotation, audit).await?;
    tracing::info!(partner_id = %id, grace_ms = grace.map(|g| g.as_millis() as u64), "partner webhook secret rotated");
    Ok(data(json!({
        "webhook_secret_key": secret.expose(),
        "webhook_secret_standard": credentials::standard_webhook_secret(&secret).expose(),
        "switch_at": crate::store::time_text::rfc3339(switch_at.unwrap_or(now)),
    })))
}

fn parse_grace(text: &str) -> Result<Duration, ApiError> {
    let grace = parse_duration(text).map_err(|err| ApiError::invalid_field("grace", err))?;
    if grace > MAX_GRACE {
        return Err(ApiError::invalid_field(
            "grace",
            format!(
                "is {text:?}, longer than the longest grace window (7d); ask for 7d or less \
                 and rotate again later if the partner needs more time"
            ),
        ));
    }
    Ok(grace)
}

/// Settings of a partner to change; a field left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PatchPartner {
    /// `klikit` (only `x-klikit-signature`) or `klikit+standard` (also the Standard
    /// Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature`).
    #[serde(default)]
    #[schema(value_type = Option<SignatureSchemeName>)]
    signature_scheme: Option<String>,
}

/// Reads a `signature_scheme` field, naming it in the error.
pub(super) fn parse_scheme(name: &str) -> Result<SignatureScheme, ApiError> {
    name.parse()
        .map_err(|err| ApiError::invalid_field("signature_scheme", err))
}

#[utoipa::path(
    patch,
    path = "/partners/{id}",
    tag = "operator",
    params(("id" = String, Path, description = "The partner id (`prt_…`).")),
    request_body = PatchPartner,
    responses(
        (status = 200, description = "The partner with its settings changed; the next attempt of each of its deliveries uses them.", body = PartnerData),
        (status = 400, description = "`request_invalid`: the id is not a partner id, or a field is unknown or wrong.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no such partner.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn update_partner(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam(id): PathParam<String>,
    RawBody(raw): RawBody,
) -> Answer {
    checked_id(IdKind::Partner, &id, "id")?;
    let patch: PatchPartner = parse_json(&raw)?;
    let signature_scheme = patch
        .signature_scheme
        .as_deref()
        .map(parse_scheme)
        .transpose()?;
    let audit = operator.audit(
        "partner.updated",
        &id,
        json!({ "signature_scheme": signature_scheme.map(SignatureScheme::as_str) }),
    );
    let partner = state
        .store
        .update_partner(&id, PartnerUpdate { signature_scheme }, audit)
        .await?;
    tracing::info!(partner_id = %id, signature_scheme = partner.signature_scheme.as_str(), "partner updated");
    Ok(data(partner))
}
