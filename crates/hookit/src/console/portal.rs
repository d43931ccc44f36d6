//! The partner portal: a partner's own URL mappings and deliveries with their
//! attempts, scoped exactly like the partner API — another partner's delivery answers
//! 404 just as a missing one does. Its actions (replay, test webhook) are in
//! `portal_actions.rs`.

use super::ConsoleError;
use super::deliveries::{self, checked};
use super::delivery_view;
use super::form::Fields;
use super::layout::{self, Chrome};
use super::login;
use super::portal_actions;
use super::session::{PartnerSession, partner_session};
use crate::api::AppState;
use crate::ids::IdKind;
use crate::store::{DeliveryDetail, DeliveryFilter, DeliveryState, UrlActivity};
use axum::extract::{Path, RawQuery, State};
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};

/// `GET /console/partner/`: the partner's webhooks when logged in, else its login form.
pub(crate) async fn home(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ConsoleError> {
    let Some(session) = partner_session(&state, &parts.headers).await? else {
        return Ok(login::partner_form(&state, &parts, None));
    };
    let id = session.partner.id.clone();
    let mappings = state.store.list_mappings(Some(&id)).await?;
    let urls = state.store.partner_url_activity(&id).await?;
    let recent = state
        .store
        .list_deliveries(DeliveryFilter {
            partner_id: Some(id),
            limit: 20,
            ..DeliveryFilter::default()
        })
        .await?;
    let content = html! {
        p { "Partner key: " span class="mono" { (session.partner.partner_key) } }
        h2 { "My URLs" }
        @if mappings.is_empty() {
            p { "No URL is mapped yet; ask your klikit contact to map one." }
        } @else {
            div class="scroll" {
                table {
                    thead { tr { th { "Brand" } th { "Branch" } th { "Event type" } th { "URL" } } }
                    tbody {
                        @for m in &mappings {
                            tr {
                                td { (m.brand_id) }
                                td { @match m.branch_id { Some(b) => (b), None => "every branch" } }
                                td { (m.event_type.as_str()) }
                                td class="mono wrap" { (m.url) }
                            }
                        }
                    }
                }
            }
        }
        (url_health(&urls))
        p class="hint" { "Replay a dead delivery from its page; send yourself a test webhook from " a href="/console/partner/deliveries#test-webhook" { "Deliveries" } "." }
        h2 { "Recent deliveries" }
        (delivery_view::table(&recent.deliveries, "/console/partner/deliveries/", None))
        p { a href="/console/partner/deliveries" { "All deliveries →" } }
    };
    Ok(layout::page("My webhooks", Chrome::Partner(&session), content).into_response())
}

/// Each of the partner's URLs with its endpoint health.
fn url_health(urls: &[UrlActivity]) -> Markup {
    html! {
        @if !urls.is_empty() {
            h2 { "URL health" }
            div class="scroll" {
                table {
                    thead { tr { th { "URL" } th { "State" } th { "Since" } th { "Pending" } th { "Last error" } } }
                    tbody {
                        @for u in urls {
                            tr class={ "endpoint-" (u.state.as_str()) } {
                                td class="mono wrap" { (u.url) }
                                td { (super::overview::state_text(u.state)) }
                                td { (layout::time(u.state_since.unwrap_or(u.first_mapped_at))) }
                                td { (u.pending) }
                                td class="wrap" { (u.last_error.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/partner/deliveries`: only this partner's, whatever the query says.
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    session: PartnerSession,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ConsoleError> {
    let fields = Fields::query(query.as_deref());
    let mut filter = deliveries::filter_from(&fields, 50)?;
    filter.partner_id = Some(session.partner.id.clone());
    let page = state.store.list_deliveries(filter).await?;
    let mappings = state.store.list_mappings(Some(&session.partner.id)).await?;
    let content = html! {
        form class="filters" method="get" action="/console/partner/deliveries" {
            label { "State "
                select name="state" {
                    option value="" { "any" }
                    @for name in ["pending", "delivered", "dead"] {
                        option value=(name) selected[fields.get("state") == Some(name)] { (name) }
                    }
                }
            }
            label { "Order id " input name="order_id" type="text" inputmode="numeric" value=(fields.get("order_id").unwrap_or_default()); }
            button type="submit" { "Filter" }
        }
        (delivery_view::table(&page.deliveries, "/console/partner/deliveries/", None))
        @if let Some(cursor) = &page.next_cursor {
            p { a href={ "/console/partner/deliveries?cursor=" (cursor) } { "Older deliveries →" } }
        }
        (portal_actions::test_webhook_form(&mappings, &session.csrf))
    };
    Ok(layout::page(
        "My deliveries",
        Chrome::Partner(&session),
        content,
    ))
}

/// This partner's delivery, or 404 exactly as for a missing one.
async fn own(
    state: &AppState,
    session: &PartnerSession,
    event_id: &str,
) -> Result<DeliveryDetail, ConsoleError> {
    checked(IdKind::Event, event_id, "event_id")?;
    state
        .store
        .get_delivery(event_id)
        .await?
        .filter(|d| d.summary.partner_id == session.partner.id)
        .ok_or_else(|| ConsoleError::not_found(format!("delivery {event_id}")))
}

/// `GET /console/partner/deliveries/{event_id}` (`?download` for the exact bytes).
pub(crate) async fn delivery(
    State(state): State<AppState>,
    session: PartnerSession,
    Path(event_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ConsoleError> {
    if query.as_deref() == Some("download") {
        let delivery = own(&state, &session, &event_id).await?;
        return Ok(delivery_view::body_download(&delivery));
    }
    let fields = Fields::query(query.as_deref());
    let page = delivery_page(
        &state,
        &session,
        &event_id,
        layout::done(fields.get("done")),
    )
    .await?;
    Ok(page.into_response())
}

/// The page of one of this partner's deliveries with `notice` above it; a dead one
/// has a replay button.
pub(crate) async fn delivery_page(
    state: &AppState,
    session: &PartnerSession,
    event_id: &str,
    notice: Markup,
) -> Result<Html<String>, ConsoleError> {
    let delivery = own(state, session, event_id).await?;
    let content = html! {
        (notice)
        @if delivery.summary.state == DeliveryState::Dead {
            form class="actions" method="post" action={ "/console/partner/deliveries/" (event_id) "/replay" } {
                (layout::csrf_field(&session.csrf))
                button type="submit" { "Replay" }
                span class="hint" { " Sends it again now, under the same event id and with the same body bytes." }
            }
        }
        (delivery_view::detail(
            &delivery,
            &format!("/console/partner/deliveries/{event_id}?download"),
        ))
    };
    Ok(layout::page("Delivery", Chrome::Partner(session), content))
}
