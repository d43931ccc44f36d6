//! Named operator tokens and the audit log.

use super::{Answer, Operator, data};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{JsonBody, PathParam, QueryParams};
use crate::api::openapi::{AuditPageData, ErrorBody, IssuedTokenData, RevokedData, TokenListData};
use crate::credentials;
use crate::store::time_text::rfc3339;
use crate::store::{NewOperatorToken, now_millis};
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

/// The name the bootstrap token from the configuration goes by.
pub const ROOT_TOKEN_NAME: &str = "root";

/// An operator token to mint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MintToken {
    /// 1 to 64 characters of a-z, 0-9, - and _; not `root`. Audit entries carry it.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    name: String,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[utoipa::path(
    post,
    path = "/tokens",
    tag = "operator",
    request_body = MintToken,
    responses(
        (status = 201, description = "The token; its value is shown only in this answer.", body = IssuedTokenData),
        (status = 400, description = "`request_invalid`: the name is malformed or `root`.", body = ErrorBody),
        (status = 409, description = "`state_conflict`: a token of that name exists.", body = ErrorBody),
        (status = 413, description = "`request_too_large`: the body is over the size limit.", body = ErrorBody),
    ),
)]
pub(super) async fn mint_token(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    body: JsonBody<MintToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = body.value.name;
    if !valid_name(&name) {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 64 characters of a-z, 0-9, - and _",
        ));
    }
    if name == ROOT_TOKEN_NAME {
        return Err(ApiError::invalid_field(
            "name",
            "`root` is the bootstrap token from HOOKIT_OPERATOR_TOKEN; choose another name",
        ));
    }
    let token = credentials::generate_token(credentials::OPERATOR_TOKEN_PREFIX);
    let stored = state
        .store
        .create_operator_token(
            NewOperatorToken {
                name: name.clone(),
                token_hash: credentials::hash_secret(token.expose()),
                created_by: operator.name.clone(),
                now: now_millis(),
            },
            operator.audit("token.minted", &name, json!({})),
        )
        .await?;
    let mut answer = json!(stored);
    answer["token"] = json!(token.expose());
    Ok((StatusCode::CREATED, data(answer)))
}

#[utoipa::path(
    get,
    path = "/tokens",
    tag = "operator",
    responses((status = 200, description = "The root token and every minted one; never a value.", body = TokenListData)),
)]
pub(super) async fn list_tokens(State(state): State<AppState>) -> Answer {
    // One shape for all: the root token comes from the configuration and has no
    // creation record.
    let mut tokens = vec![json!({
        "name": ROOT_TOKEN_NAME,
        "source": "configuration",
        "created_at": null,
        "created_by": null,
    })];
    for token in state.store.list_operator_tokens().await? {
        tokens.push(json!({
            "name": token.name,
            "source": "minted",
            "created_at": rfc3339(token.created_at),
            "created_by": token.created_by,
        }));
    }
    Ok(data(tokens))
}

#[utoipa::path(
    delete,
    path = "/tokens/{name}",
    tag = "operator",
    params(("name" = String, Path, description = "The token's name.")),
    responses(
        (status = 200, description = "Revoked; it stops working on the next request.", body = RevokedData),
        (status = 400, description = "`request_invalid`: the root token cannot be revoked here.", body = ErrorBody),
        (status = 404, description = "`resource_not_found`: no token of that name.", body = ErrorBody),
    ),
)]
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    PathParam(name): PathParam<String>,
) -> Answer {
    if name == ROOT_TOKEN_NAME {
        return Err(ApiError::invalid_field(
            "name",
            "the root token is configured (HOOKIT_OPERATOR_TOKEN or the operator-token file); change it there",
        ));
    }
    state
        .store
        .revoke_operator_token(&name, operator.audit("token.revoked", &name, json!({})))
        .await?;
    Ok(data(json!({ "revoked": name })))
}

/// A page of the audit log.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Only what this operator token did (its name: `root`, or a minted one's).
    actor: Option<String>,
    /// Only this action (`partner.created`, `partner.disabled`, `mapping.upserted`, …).
    action: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<u32>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    size: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/audit",
    tag = "operator",
    params(AuditQuery),
    responses(
        (status = 200, description = "Operator actions, newest first, each with the name of the token that acted; `total` counts what the filters match.", body = AuditPageData),
        (status = 400, description = "`request_invalid`: `page` or `size` is out of range, `since` is not an RFC 3339 time, or a parameter is unknown.", body = ErrorBody),
    ),
)]
pub(super) async fn list_audit(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Answer {
    let page = query.page.unwrap_or(1);
    let size = query.size.unwrap_or(50);
    if page == 0 {
        return Err(ApiError::invalid_field("page", "starts at 1"));
    }
    if !(1..=500).contains(&size) {
        return Err(ApiError::invalid_field("size", "must be between 1 and 500"));
    }
    let since = query
        .since
        .as_deref()
        .map(|text| super::deliveries::parse_time("since", text))
        .transpose()?;
    let audit = crate::store::AuditQuery {
        actor: query.actor,
        action: query.action,
        since,
        page,
        size,
    };
    Ok(data(state.store.list_audit(audit).await?))
}
