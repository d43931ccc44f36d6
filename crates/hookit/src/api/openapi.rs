//! The OpenAPI 3.1 document of every HTTP API, served at `GET /openapi.json`.
//!
//! The document is generated from the code, never written by hand: every route is
//! registered with `utoipa_axum::routes!`, which takes its method and path from the
//! handler's `#[utoipa::path]` attribute, so registering a route and documenting it are
//! one act. The authentication layer of each API is documented where it is applied
//! ([`document_guard`]). What utoipa 5 cannot express itself — the top-level
//! `webhooks` of OpenAPI 3.1 — is added by [`finish`], from the same schemas. The
//! result is canonical (object keys sorted), so the same code always serves the same
//! bytes.

mod envelopes;
mod rules;
mod schemas;
pub(crate) mod store_schemas;
mod webhooks;

pub use envelopes::*;
pub use schemas::*;

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value};
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi as _, ToSchema};

/// Which authentication guards a group of routes.
#[derive(Clone, Copy, Debug)]
pub enum Guard {
    /// `Authorization: Bearer <operator token>`.
    Operator,
    /// `Authorization: Bearer <ingest token>`.
    Ingest,
    /// `Authorization: Basic base64(partner_key:secret_key)`.
    Partner,
}

impl Guard {
    fn unauthorized(self) -> &'static str {
        match self {
            Guard::Operator => {
                "`auth_missing`: no `Authorization: Bearer` header; `auth_invalid_credential`: \
                 not an operator token (or a revoked one)."
            }
            Guard::Ingest => {
                "`auth_missing`: no `Authorization: Bearer` header; `auth_invalid_credential`: \
                 not the ingest token."
            }
            Guard::Partner => {
                "`auth_missing`: no `Authorization: Basic` header; `auth_invalid_credential`: \
                 the partner_key or secret_key is wrong."
            }
        }
    }

    fn scheme_name(self) -> &'static str {
        match self {
            Guard::Operator => "operator_token",
            Guard::Ingest => "ingest_token",
            Guard::Partner => "partner_basic",
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "hookit",
        description = "klikit's order-webhook service: the partner API (HTTP Basic \
            `partner_key:secret_key`), the operator API and the ingest API (separate bearer \
            tokens), health and metrics, and — under `webhooks` — the signed deliveries \
            hookit POSTs to partners. Every answer carries an `x-request-id` header.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "partner", description = "The partner API: orders and the partner's own webhook setup."),
        (name = "operator", description = "The operator API: partners, credentials, URL mappings, deliveries, tokens, audit."),
        (name = "ingest", description = "The ingest API: klikit's order platform pushes order changes."),
        (name = "service", description = "Health, readiness, metrics and this document."),
        (name = "webhooks", description = "What hookit POSTs to a partner's URL: see `webhooks`."),
    ),
    components(schemas(ErrorBody, PartnerErrorBody, webhooks::WebhookEnvelope, OrderRecord, EventTypeName)),
    modifiers(&SecuritySchemes),
)]
struct Base;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(description.to_owned());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            Guard::Operator.scheme_name(),
            bearer("An operator token: `root` from HOOKIT_OPERATOR_TOKEN, or one minted with POST /v1/operator/tokens."),
        );
        components.add_security_scheme(
            Guard::Ingest.scheme_name(),
            bearer("The ingest token (HOOKIT_INGEST_TOKEN), separate from every operator token."),
        );
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some(
            "`Authorization: Basic base64(partner_key:secret_key)`. The secret_key is shown once \
             when issued; rotating it stops the old one at once, with no overlap."
                .to_owned(),
        );
        components.add_security_scheme(Guard::Partner.scheme_name(), SecurityScheme::Http(basic));
        components.add_security_scheme(
            "metrics_token",
            bearer("The metrics token (HOOKIT_METRICS_TOKEN); without one, `/metrics` is served only on HOOKIT_METRICS_LISTEN."),
        );
    }
}

/// The document's fixed part: info, tags, security schemes, shared schemas.
pub fn base() -> OpenApi {
    Base::openapi()
}

/// Marks every operation of `openapi` as guarded: its security requirement and the
/// answers the guard itself can give.
pub fn document_guard(openapi: &mut OpenApi, guard: Guard) {
    let error = match guard {
        Guard::Partner => PartnerErrorBody::name(),
        Guard::Operator | Guard::Ingest => ErrorBody::name(),
    };
    let answer = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(error.clone())))
                    .build(),
            )
            .build()
    };
    for item in openapi.paths.paths.values_mut() {
        for operation in operations(item) {
            operation.security = Some(vec![SecurityRequirement::new(
                guard.scheme_name(),
                Vec::<String>::new(),
            )]);
            let responses = &mut operation.responses.responses;
            responses.insert("401".into(), answer(guard.unauthorized()).into());
            responses.insert(
                "503".into(),
                answer("`storage_unavailable`: the store could not complete the request; nothing was changed, retry.").into(),
            );
            if let Guard::Partner = guard {
                responses.insert(
                    "403".into(),
                    answer("`partner_disabled`: the credentials are right, but an operator disabled the partner: its webhooks are paused (its changes are kept and delivered in order once it is enabled) and so is its API access.").into(),
                );
                responses.insert(
                    "429".into(),
                    answer("`rate_limited`: too many failed authentications from this address; wait for `Retry-After` seconds.").into(),
                );
            }
        }
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The finished document: the routes' document plus `webhooks`, with the
/// `x-request-id` header on every answer, keys sorted.
pub fn finish(openapi: OpenApi) -> Value {
    let mut document = serde_json::to_value(&openapi).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut document {
        fields.insert("webhooks".into(), webhooks::webhooks());
    }
    name_millis(&mut document);
    rules::state(&mut document);
    add_request_id_header(&mut document);
    canonical(document)
}

/// Store times are `Millis`, an alias of `i64` that utoipa registers under the name
/// `i64`; every answer writes them as RFC 3339 text (`store::time_text`), so this
/// replaces that schema with a date-time string named `Time`.
fn name_millis(document: &mut Value) {
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if schemas.remove("i64").is_none() {
        return;
    }
    schemas.insert(
        "Time".into(),
        serde_json::json!({
            "type": "string",
            "format": "date-time",
            "description": "A time in RFC 3339, UTC, to the millisecond.",
            "example": "2026-11-28T10:00:00.000Z",
        }),
    );
    rewrite_refs(
        document,
        "#/components/schemas/i64",
        "#/components/schemas/Time",
    );
}

fn rewrite_refs(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if key == "$ref" && field == from {
                    *field = to.into();
                } else {
                    rewrite_refs(field, from, to);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_refs(item, from, to)),
        _ => {}
    }
}

/// Every answer of every path carries `x-request-id` (set by the outermost layer).
fn add_request_id_header(document: &mut Value) {
    document["components"]["headers"]["RequestId"] = serde_json::json!({
        "description": "The id hookit gave this request (also `request_id` in partner API bodies); quote it to support.",
        "schema": { "type": "string" },
    });
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let answers = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(Value::as_object_mut)
        .flat_map(|responses| responses.values_mut());
    for answer in answers {
        answer["headers"]["x-request-id"] =
            serde_json::json!({ "$ref": "#/components/headers/RequestId" });
    }
}

/// `value` with every object's keys in sorted order, whatever map serde_json uses.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut entries: Vec<(String, Value)> = fields.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, canonical(value)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// The serialised document, shared by every request.
#[derive(Clone)]
pub struct Document(pub Arc<[u8]>);

impl Document {
    /// Serialises a finished document once.
    pub fn new(document: &Value) -> Document {
        Document(serde_json::to_vec(document).unwrap_or_default().into())
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of every API, with the webhooks hookit sends.", content_type = "application/json", body = Object)),
)]
pub async fn openapi_json(Extension(document): Extension<Document>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.0.to_vec(),
    )
}
