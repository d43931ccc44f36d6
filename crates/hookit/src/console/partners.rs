//! Partners for operators: list, create (credentials shown once), rotate secrets,
//! disable and enable, and the partner's URL mappings (add, change, delete). Every
//! change goes through the same store calls, with the same audit entries, as the
//! operator API's.

use super::ConsoleError;
use super::deliveries::checked;
use super::layout::{self, Chrome};
use super::session::{OperatorForm, OperatorSession};
use crate::api::AppState;
use crate::api::operator::partners::{checked_partner_name, issue_partner};
use crate::credentials;
use crate::ids::IdKind;
use crate::store::{Mapping, NewMapping, Partner, SignatureScheme, WebhookSecretRotation};
use crate::target_policy;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use klikit_webhook::EventType;
use maud::{Markup, html};
use serde_json::json;

/// `GET /console/partners`.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: OperatorSession,
) -> Result<Html<String>, ConsoleError> {
    let partners = state.store.list_partners().await?;
    let content = html! {
        (partner_table(&partners))
        form class="card" method="post" action="/console/partners" {
            h2 { "New partner" }
            (layout::csrf_field(&session.csrf))
            label for="name" { "Name" }
            input id="name" name="name" type="text" maxlength="200" required;
            button type="submit" { "Create partner" }
        }
    };
    Ok(layout::page(
        "Partners",
        Chrome::Operator(&session),
        content,
    ))
}

fn partner_table(partners: &[Partner]) -> Markup {
    html! {
        @if partners.is_empty() {
            p { "No partners yet." }
        } @else {
            div class="scroll" {
                table {
                    thead { tr { th { "Name" } th { "Partner id" } th { "Partner key" } th { "Status" } th { "Created" } } }
                    tbody {
                        @for p in partners {
                            tr {
                                td { a href={ "/console/partners/" (p.id) } { (p.name) } }
                                td class="mono" { (p.id) }
                                td class="mono" { (p.partner_key) }
                                td { (enabled_text(p.enabled)) }
                                td { (layout::time(p.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn enabled_text(enabled: bool) -> &'static str {
    if enabled {
        "enabled"
    } else {
        "disabled (paused)"
    }
}

/// `POST /console/partners`: creates a partner and shows its credentials once.
pub(crate) async fn create(
    State(state): State<AppState>,
    form: OperatorForm,
) -> Result<Html<String>, ConsoleError> {
    let name = checked_partner_name(form.fields.required("name")?)?;
    let (partner, secret_key, webhook_secret_key) = issue_partner(
        &state,
        &form.session.operator,
        name,
        SignatureScheme::default(),
    )
    .await?;
    let content = html! {
        p class="notice" role="status" { "Partner " strong { (partner.name) } " created. Copy the secrets now: they are shown only on this page, never again." }
        div class="card" {
            (layout::secret_once("partner_key", "partner_key", &partner.partner_key))
            (layout::secret_once("secret_key", "secret_key", secret_key.expose()))
            (layout::secret_once("webhook_secret_key", "webhook_secret_key", webhook_secret_key.expose()))
        }
        p { a href={ "/console/partners/" (partner.id) } { "Go to " (partner.name) " and map its URLs →" } }
    };
    Ok(layout::page(
        "Partner created",
        Chrome::Operator(&form.session),
        content,
    ))
}

/// `GET /console/partners/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    session: OperatorSession,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ConsoleError> {
    checked(IdKind::Partner, &id, "id")?;
    let fields = super::form::Fields::query(query.as_deref());
    let partner = state.store.get_partner(&id).await?;
    let mappings = state.store.list_mappings(Some(&id)).await?;
    let csrf = &session.csrf;
    let content = html! {
        (layout::done(fields.get("done")))
        dl class="facts" {
            dt { "Name" } dd { (partner.name) }
            dt { "Partner id" } dd class="mono" { (partner.id) }
            dt { "Partner key" } dd class="mono" { (partner.partner_key) }
            dt { "Status" } dd { (enabled_text(partner.enabled)) }
            dt { "Created" } dd { (layout::time(partner.created_at)) }
        }
        div class="actions" {
            (action_button(&id, "rotate-secret", "Rotate API secret", csrf))
            (action_button(&id, "rotate-webhook-secret", "Rotate webhook secret", csrf))
            @if partner.enabled {
                (action_button(&id, "disable", "Disable", csrf))
            } @else {
                (action_button(&id, "enable", "Enable", csrf))
            }
            a href={ "/console/deliveries?partner_id=" (id) } { "Its deliveries" }
        }
        h2 { "URL mappings" }
        (mapping_table(&id, &mappings, csrf))
        form class="card" method="post" action={ "/console/partners/" (id) "/mappings" } {
            h3 { "Add or change a mapping" }
            p class="hint" { "One URL per (brand, branch, event type); saving an existing tuple replaces its URL. Leave the branch empty for every branch of the brand." }
            (layout::csrf_field(csrf))
            label for="brand_id" { "Brand id" }
            input id="brand_id" name="brand_id" type="text" inputmode="numeric" required;
            label for="branch_id" { "Branch id (optional)" }
            input id="branch_id" name="branch_id" type="text" inputmode="numeric";
            label for="event_type" { "Event type" }
            select id="event_type" name="event_type" {
                option { "klikit.order.created.v2" }
                option { "klikit.order.status.updated" }
                option { "klikit.order.cart.updated" }
            }
            label for="url" { "URL" }
            input id="url" name="url" type="url" required placeholder="https://partner.example/webhooks";
            button type="submit" { "Save mapping" }
        }
    };
    Ok(layout::page(
        &partner.name,
        Chrome::Operator(&session),
        content,
    ))
}

fn action_button(id: &str, action: &str, label: &str, csrf: &str) -> Markup {
    html! {
        form method="post" action={ "/console/partners/" (id) "/" (action) } {
            (layout::csrf_field(csrf))
            button type="submit" { (label) }
        }
    }
}

fn mapping_table(id: &str, mappings: &[Mapping], csrf: &str) -> Markup {
    html! {
        @if mappings.is_empty() {
            p { "No mappings: this partner receives no webhooks yet." }
        } @else {
            div class="scroll" {
                table {
                    thead { tr { th { "Brand" } th { "Branch" } th { "Event type" } th { "URL" } th { "Delete" } } }
                    tbody {
                        @for m in mappings {
                            tr {
                                td { (m.brand_id) }
                                td { @match m.branch_id { Some(b) => (b), None => "every branch" } }
                                td { (m.event_type.as_str()) }
                                td {
                                    form class="inline" method="post" action={ "/console/partners/" (id) "/mappings" } {
                                        (layout::csrf_field(csrf))
                                        input type="hidden" name="brand_id" value=(m.brand_id);
                                        @if let Some(branch) = m.branch_id { input type="hidden" name="branch_id" value=(branch); }
                                        input type="hidden" name="event_type" value=(m.event_type.as_str());
                                        label class="visually-hidden" for={ "url-" (m.id) } { "URL of " (m.id) }
                                        input id={ "url-" (m.id) } name="url" type="url" value=(m.url) required;
                                        button type="submit" { "Change" }
                                    }
                                }
                                td {
                                    form method="post" action={ "/console/partners/" (id) "/mappings/" (m.id) "/delete" } {
                                        (layout::csrf_field(csrf))
                                        button type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /console/partners/{id}/{action}`: rotate a secret, disable or enable.
pub(crate) async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    form: OperatorForm,
) -> Result<Response, ConsoleError> {
    checked(IdKind::Partner, &id, "id")?;
    let operator = &form.session.operator;
    match action.as_str() {
        "rotate-secret" => {
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
            Ok(shown_once(
                &form.session,
                &id,
                "secret_key",
                secret_key.expose(),
                "The old API secret stopped working at once.",
            )
            .into_response())
        }
        "rotate-webhook-secret" => {
            let secret = credentials::generate_webhook_secret();
            let encrypted = state
                .master_key
                .encrypt(secret.expose().as_bytes(), id.as_bytes());
            state
                .store
                .set_webhook_secret(
                    &id,
                    WebhookSecretRotation {
                        encrypted,
                        switch_at: None,
                    },
                    operator.audit("partner.webhook_secret_rotated", &id, json!({})),
                )
                .await?;
            tracing::info!(partner_id = %id, "partner webhook secret rotated");
            Ok(shown_once(
                &form.session,
                &id,
                "webhook_secret_key",
                secret.expose(),
                "Every attempt from now on is signed with it.",
            )
            .into_response())
        }
        "disable" | "enable" => {
            let enabled = action == "enable";
            let audit_action = if enabled {
                "partner.enabled"
            } else {
                "partner.disabled"
            };
            state
                .store
                .set_partner_enabled(&id, enabled, operator.audit(audit_action, &id, json!({})))
                .await?;
            tracing::info!(partner_id = %id, enabled, "partner enabled flag changed");
            let done = if enabled { "enabled" } else { "disabled" };
            Ok(Redirect::to(&format!("/console/partners/{id}?done={done}")).into_response())
        }
        other => Err(ConsoleError::not_found(format!("partner action {other:?}"))),
    }
}

fn shown_once(
    session: &OperatorSession,
    id: &str,
    label: &str,
    value: &str,
    note: &str,
) -> Html<String> {
    let content = html! {
        p class="notice" role="status" { "New " (label) " issued. " (note) " Copy it now: it is shown only on this page." }
        div class="card" { (layout::secret_once(label, label, value)) }
        p { a href={ "/console/partners/" (id) } { "Back to the partner" } }
    };
    layout::page("Secret rotated", Chrome::Operator(session), content)
}

/// `POST /console/partners/{id}/mappings`: adds a mapping or replaces its URL.
pub(crate) async fn put_mapping(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: OperatorForm,
) -> Result<Redirect, ConsoleError> {
    checked(IdKind::Partner, &id, "id")?;
    let fields = &form.fields;
    let brand_id = fields
        .integer("brand_id")?
        .ok_or_else(|| ConsoleError::invalid("brand_id", "is required; fill it in"))?;
    let branch_id = fields.integer("branch_id")?;
    let event_type: EventType = fields
        .required("event_type")?
        .parse()
        .map_err(|err| ConsoleError::invalid("event_type", err))?;
    let url =
        target_policy::validate_target_url(fields.required("url")?, state.allow_private_targets)
            .map_err(|err| ConsoleError::invalid("url", err))?;
    let audit = form.session.operator.audit(
        "mapping.upserted",
        &id,
        json!({
            "brand_id": brand_id,
            "branch_id": branch_id,
            "event_type": event_type.as_str(),
            "url": url.to_string(),
        }),
    );
    state
        .store
        .upsert_mapping(
            NewMapping {
                id: IdKind::Mapping.generate(),
                partner_id: id.clone(),
                brand_id,
                branch_id,
                event_type,
                url: url.to_string(),
            },
            audit,
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/console/partners/{id}?done=mapping_saved"
    )))
}

/// `POST /console/partners/{id}/mappings/{mapping_id}/delete`.
pub(crate) async fn delete_mapping(
    State(state): State<AppState>,
    Path((id, mapping_id)): Path<(String, String)>,
    form: OperatorForm,
) -> Result<Redirect, ConsoleError> {
    checked(IdKind::Partner, &id, "id")?;
    checked(IdKind::Mapping, &mapping_id, "mapping_id")?;
    let deleted = state
        .store
        .delete_mapping(
            &id,
            &mapping_id,
            form.session.operator.audit(
                "mapping.deleted",
                &id,
                json!({ "mapping_id": mapping_id }),
            ),
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/console/partners/{id}?done=mapping_deleted:{}",
        deleted.stopped
    )))
}
