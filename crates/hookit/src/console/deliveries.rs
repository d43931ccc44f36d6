//! Deliveries for operators: the filtered list, one delivery with its headers, body
//! and attempts, the exact body bytes, replay of one and bulk replay by the filter.
//! How a delivery is drawn is in `delivery_view.rs`, shared with the partner portal;
//! retry-now (of one, and by the filter) is in `retry.rs`.

use super::ConsoleError;
use super::delivery_view::{body_download, detail, table};
use super::form::Fields;
use super::layout::{self, Chrome};
use super::session::{OperatorForm, OperatorSession};
use crate::api::AppState;
use crate::ids::IdKind;
use crate::store::{DeliveryDetail, DeliveryFilter, DeliveryState, Partner};
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, Redirect, Response};
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
        @if matches!(filter.state, None | Some(DeliveryState::Pending)) {
            (super::retry::bulk_retry_form(&fields, &session.csrf))
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
    delivery_page(
        &state,
        &session,
        &event_id,
        layout::done(fields.get("done")),
    )
    .await
}

/// The page of one delivery with `notice` above it (what an action did, or why it was
/// refused): replay for a finished delivery, retry-now for a pending one.
pub(crate) async fn delivery_page(
    state: &AppState,
    session: &OperatorSession,
    event_id: &str,
    notice: Markup,
) -> Result<Html<String>, ConsoleError> {
    let delivery = load(state, event_id).await?;
    let pending = delivery.summary.state == DeliveryState::Pending;
    let content = html! {
        (notice)
        p { "Partner: " a href={ "/console/partners/" (delivery.summary.partner_id) } { (delivery.summary.partner_id) } }
        @if pending {
            form class="actions" method="post" action={ "/console/deliveries/" (event_id) "/retry" } {
                (layout::csrf_field(&session.csrf))
                button type="submit" { "Retry now" }
                span class="hint" { " Attempts it at the next tick under the same event id; its retry schedule is not advanced." }
            }
        } @else {
            form class="actions" method="post" action={ "/console/deliveries/" (event_id) "/replay" } {
                (layout::csrf_field(&session.csrf))
                button type="submit" { "Replay" }
            }
        }
        (detail(&delivery, &format!("/console/deliveries/{event_id}/body")))
    };
    Ok(layout::page("Delivery", Chrome::Operator(session), content))
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
