//! Deliveries for operators: the filtered list, one delivery with its headers, body
//! and attempts, the exact body bytes, replay of one and bulk replay by the filter.
//! The list and detail renderers are shared with the partner portal.

use super::ConsoleError;
use super::form::Fields;
use super::layout::{self, Chrome};
use super::session::{OperatorForm, OperatorSession};
use crate::api::AppState;
use crate::ids::IdKind;
use crate::store::{DeliveryDetail, DeliveryFilter, DeliveryState, DeliverySummary, Partner};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use klikit_webhook::EventType;
use maud::{Markup, html};
use serde_json::json;

const EVENT_TYPES: [&str; 3] = [
    "klikit.order.created.v2",
    "klikit.order.status.updated",
    "klikit.order.cart.updated",
];

/// The list's filter as read from a query string or form; blank fields are absent.
pub(crate) fn filter_from(fields: &Fields, limit: usize) -> Result<DeliveryFilter, ConsoleError> {
    let partner_id = fields.get("partner_id").map(str::to_owned);
    if let Some(id) = &partner_id {
        checked(IdKind::Partner, id, "partner_id")?;
    }
    let before = fields.get("cursor").map(str::to_owned);
    if let Some(cursor) = &before {
        checked(IdKind::Event, cursor, "cursor")?;
    }
    let state = fields
        .get("state")
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                ConsoleError::invalid("state", "must be one of pending, delivered, dead")
            })
        })
        .transpose()?;
    let event_type = fields
        .get("event_type")
        .map(|e| {
            e.parse::<EventType>()
                .map_err(|err| ConsoleError::invalid("event_type", err))
        })
        .transpose()?;
    Ok(DeliveryFilter {
        partner_id,
        state,
        event_type,
        order_id: fields.integer("order_id")?,
        created_from: fields
            .get("from")
            .map(|t| parse_time("from", t))
            .transpose()?,
        created_to: fields.get("to").map(|t| parse_time("to", t)).transpose()?,
        limit,
        before,
    })
}

/// Checks an id's shape, as the APIs do, so a typo says what an id looks like.
pub(crate) fn checked(kind: IdKind, id: &str, field: &str) -> Result<(), ConsoleError> {
    if kind.matches(id) {
        Ok(())
    } else {
        Err(ConsoleError::invalid(
            field,
            format!(
                "must be an id like {}0123…(32 hex digits), got {id:?}",
                kind.prefix()
            ),
        ))
    }
}

/// An RFC 3339 time, or a `datetime-local` value (`2026-12-02T15:04`, read as UTC).
fn parse_time(field: &str, text: &str) -> Result<i64, ConsoleError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| {
            ConsoleError::invalid(
                field,
                format!("must be a time like 2026-12-02T15:04:05Z (UTC), got {text:?}"),
            )
        })
}

/// `GET /console/deliveries`.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: OperatorSession,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ConsoleError> {
    let fields = Fields::query(query.as_deref());
    let filter = filter_from(&fields, 50)?;
    let page = state.store.list_deliveries(filter.clone()).await?;
    let partners = state.store.list_partners().await?;
    let content = html! {
        (layout::done(fields.get("done")))
        (filter_form(&fields, &partners))
        (table(&page.deliveries, "/console/deliveries/", Some(&partners)))
        @if let Some(cursor) = &page.next_cursor {
            p { a href={ "/console/deliveries?" (with_cursor(&fields, cursor)) } { "Older deliveries →" } }
        }
        @if filter.state != Some(DeliveryState::Pending) {
            (bulk_replay_form(&fields, &session.csrf))
        }
    };
    Ok(layout::page(
        "Deliveries",
        Chrome::Operator(&session),
        content,
    ))
}

fn with_cursor(fields: &Fields, cursor: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for name in [
        "partner_id",
        "state",
        "event_type",
        "order_id",
        "from",
        "to",
    ] {
        if let Some(value) = fields.get(name) {
            query.append_pair(name, value);
        }
    }
    query.append_pair("cursor", cursor);
    query.finish()
}

fn filter_form(fields: &Fields, partners: &[Partner]) -> Markup {
    html! {
        form class="filters" method="get" action="/console/deliveries" {
            label { "Partner "
                select name="partner_id" {
                    option value="" { "any" }
                    @for partner in partners {
                        option value=(partner.id) selected[fields.get("partner_id") == Some(partner.id.as_str())] { (partner.name) }
                    }
                }
            }
            label { "State "
                select name="state" {
                    option value="" { "any" }
                    @for name in ["pending", "delivered", "dead"] {
                        option value=(name) selected[fields.get("state") == Some(name)] { (name) }
                    }
                }
            }
            label { "Event type "
                select name="event_type" {
                    option value="" { "any" }
                    @for name in EVENT_TYPES {
                        option value=(name) selected[fields.get("event_type") == Some(name)] { (name) }
                    }
                }
            }
            label { "Order id " input name="order_id" type="text" inputmode="numeric" value=(fields.get("order_id").unwrap_or_default()); }
            label { "From (UTC) " input name="from" type="text" placeholder="2026-12-02T15:00:00Z" value=(fields.get("from").unwrap_or_default()); }
            label { "To (UTC) " input name="to" type="text" placeholder="2026-12-02T16:00:00Z" value=(fields.get("to").unwrap_or_default()); }
            button type="submit" { "Filter" }
        }
    }
}

fn bulk_replay_form(fields: &Fields, csrf: &str) -> Markup {
    html! {
        form class="card" method="post" action="/console/deliveries/replay" {
            (layout::csrf_field(csrf))
            @for name in ["partner_id", "state", "event_type", "order_id", "from", "to"] {
                @if let Some(value) = fields.get(name) {
                    input type="hidden" name=(name) value=(value);
                }
            }
            p { "Replay every dead delivery matching this filter (same event ids, same bodies, a fresh retry schedule)." }
            label { input type="checkbox" name="include_delivered"; " also re-send delivered ones" }
            button type="submit" { "Replay matching deliveries" }
        }
    }
}

/// A table of deliveries linking to `detail_prefix` + event id.
pub(crate) fn table(
    deliveries: &[DeliverySummary],
    detail_prefix: &str,
    partners: Option<&[Partner]>,
) -> Markup {
    let name = |id: &str| {
        partners
            .and_then(|all| all.iter().find(|p| p.id == id))
            .map_or_else(|| id.to_owned(), |p| p.name.clone())
    };
    html! {
        @if deliveries.is_empty() {
            p { "No deliveries match." }
        } @else {
            div class="scroll" {
                table {
                    thead { tr {
                        th { "Event id" }
                        @if partners.is_some() { th { "Partner" } }
                        th { "Event type" } th { "Orders" } th { "State" } th { "Attempts" } th { "Created" } th { "Finished" }
                    } }
                    tbody {
                        @for d in deliveries {
                            tr {
                                td { a class="mono" href={ (detail_prefix) (d.event_id) } { (d.event_id) } }
                                @if partners.is_some() { td { (name(&d.partner_id)) } }
                                td { (d.event_type.as_str()) }
                                td { (d.order_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")) }
                                td { (layout::state_badge(d.state)) @if let Some(reason) = &d.dead_reason { " (" (reason) ")" } }
                                td { (d.attempt_count) }
                                td { (layout::time(d.created_at)) }
                                td { (layout::maybe_time(d.finished_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One delivery: its facts, the headers every attempt carries, its body and attempts.
pub(crate) fn detail(d: &DeliveryDetail, body_href: &str) -> Markup {
    let s = &d.summary;
    let pretty = serde_json::from_str::<serde_json::Value>(&d.body)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| d.body.clone());
    html! {
        dl class="facts" {
            dt { "Event id" } dd class="mono" { (s.event_id) }
            dt { "State" } dd { (layout::state_badge(s.state)) @if let Some(reason) = &s.dead_reason { " (" (reason) ")" } }
            dt { "Event type" } dd { (s.event_type.as_str()) }
            dt { "Brand / branch" } dd { (s.brand_id) " / " (s.branch_id) }
            dt { "Orders" } dd {
                @for (i, id) in s.order_ids.iter().enumerate() {
                    @if i > 0 { ", " }
                    (id)
                }
            }
            dt { "Created" } dd { (layout::time(s.created_at)) }
            dt { "Next attempt" } dd { (layout::maybe_time(s.next_attempt_at)) }
            dt { "Finished" } dd { (layout::maybe_time(s.finished_at)) }
        }
        h2 { "Headers" }
        div class="scroll" {
            table {
                tbody {
                    tr { th scope="row" { "content-type" } td class="mono" { "application/json" } }
                    tr { th scope="row" { "x-klikit-event-id" } td class="mono" { (s.event_id) } }
                    tr { th scope="row" { "x-klikit-event-type" } td class="mono" { (s.event_type.as_str()) } }
                    tr { th scope="row" { "x-klikit-signature" } td { "HMAC-SHA256 of the body with the partner's webhook secret at the time of each attempt" } }
                    tr { th scope="row" { "x-klikit-delivery-attempt" } td { "the attempt's number" } }
                    tr { th scope="row" { "user-agent" } td class="mono" { "hookit/" (env!("CARGO_PKG_VERSION")) } }
                }
            }
        }
        h2 { "Body" }
        p { a href=(body_href) download { "Download the exact body bytes" } " (" (d.body.len()) " bytes)" }
        pre class="body" { code { (pretty) } }
        h2 { "Attempts" }
        @if d.attempts.is_empty() {
            p { "No attempt yet." }
        } @else {
            div class="scroll" {
                table {
                    thead { tr { th { "#" } th { "Started" } th { "Latency" } th { "URL" } th { "Status" } th { "Error" } th { "Response excerpt" } } }
                    tbody {
                        @for a in &d.attempts {
                            tr {
                                td { (a.attempt) }
                                td { (layout::time(a.started_at)) }
                                td { (a.duration_ms) " ms" }
                                td class="mono wrap" { (a.url) }
                                td { @match a.status_code { Some(code) => (code), None => "—" } }
                                td { @if let Some(kind) = &a.error_kind { (kind) ": " } (a.error.as_deref().unwrap_or("")) }
                                td { @if let Some(excerpt) = &a.response_excerpt { pre class="excerpt" { (excerpt) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn load(state: &AppState, event_id: &str) -> Result<DeliveryDetail, ConsoleError> {
    checked(IdKind::Event, event_id, "event_id")?;
    state
        .store
        .get_delivery(event_id)
        .await?
        .ok_or_else(|| ConsoleError::not_found(format!("delivery {event_id}")))
}

/// `GET /console/deliveries/{event_id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    session: OperatorSession,
    Path(event_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ConsoleError> {
    let fields = Fields::query(query.as_deref());
    let delivery = load(&state, &event_id).await?;
    let replayable = delivery.summary.state != DeliveryState::Pending;
    let content = html! {
        (layout::done(fields.get("done")))
        p { "Partner: " a href={ "/console/partners/" (delivery.summary.partner_id) } { (delivery.summary.partner_id) } }
        @if replayable {
            form class="actions" method="post" action={ "/console/deliveries/" (event_id) "/replay" } {
                (layout::csrf_field(&session.csrf))
                button type="submit" { "Replay" }
            }
        }
        p class="hint" { "Retry now is not available yet." }
        (detail(&delivery, &format!("/console/deliveries/{event_id}/body")))
    };
    Ok(layout::page(
        "Delivery",
        Chrome::Operator(&session),
        content,
    ))
}

/// The exact body bytes as a download.
pub(crate) fn body_download(delivery: &DeliveryDetail) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}.json\"",
        delivery.summary.event_id
    );
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        delivery.body.clone(),
    )
        .into_response()
}

/// `GET /console/deliveries/{event_id}/body`.
pub(crate) async fn body(
    State(state): State<AppState>,
    _session: OperatorSession,
    Path(event_id): Path<String>,
) -> Result<Response, ConsoleError> {
    Ok(body_download(&load(&state, &event_id).await?))
}

/// `POST /console/deliveries/{event_id}/replay`: as the operator API's replay.
pub(crate) async fn replay(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    form: OperatorForm,
) -> Result<Redirect, ConsoleError> {
    checked(IdKind::Event, &event_id, "event_id")?;
    let audit = form
        .session
        .operator
        .audit("delivery.replayed", &event_id, json!({}));
    state.store.replay_delivery(&event_id, audit).await?;
    tracing::info!(event_id = %event_id, "delivery replayed");
    Ok(Redirect::to(&format!(
        "/console/deliveries/{event_id}?done=replayed"
    )))
}

/// `POST /console/deliveries/replay`: as the operator API's bulk replay.
pub(crate) async fn replay_matching(
    State(state): State<AppState>,
    form: OperatorForm,
) -> Result<Redirect, ConsoleError> {
    let include_delivered = form.fields.checked("include_delivered");
    let filter = filter_from(&form.fields, 1)?;
    match filter.state {
        Some(DeliveryState::Pending) => {
            return Err(ConsoleError::invalid(
                "state",
                "pending deliveries are attempted already; a replay applies to dead (or delivered) ones",
            ));
        }
        Some(DeliveryState::Delivered) if !include_delivered => {
            return Err(ConsoleError::invalid(
                "include_delivered",
                "must be ticked to re-send delivered deliveries",
            ));
        }
        _ => {}
    }
    let audit = form.session.operator.audit(
        "deliveries.replayed",
        filter.partner_id.as_deref().unwrap_or("*"),
        json!({
            "state": filter.state.map(|s| s.as_str()),
            "event_type": filter.event_type.map(|e| e.as_str()),
            "order_id": filter.order_id,
            "include_delivered": include_delivered,
        }),
    );
    let outcome = state
        .store
        .replay_matching(filter, include_delivered, audit)
        .await?;
    tracing::info!(
        replayed = outcome.replayed,
        skipped = outcome.skipped_total,
        "deliveries replayed in bulk"
    );
    Ok(Redirect::to(&format!(
        "/console/deliveries?done=bulk:{}:{}",
        outcome.replayed, outcome.skipped_total
    )))
}
