//! Orders for operators: look an order up by id and see its latest record, and which
//! partner got which version of it when (from the deliveries that carry it).

use super::ConsoleError;
use super::form::Fields;
use super::layout::{self, Chrome};
use super::session::OperatorSession;
use crate::api::AppState;
use crate::store::{DeliveryDetail, DeliveryFilter};
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;

/// The most deliveries of one order the page reads.
const DELIVERIES_SHOWN: usize = 100;

/// `GET /console/orders?id=`: the lookup form, or off to the order.
pub(crate) async fn lookup(
    session: OperatorSession,
    RawQuery(query): RawQuery,
) -> Result<Response, ConsoleError> {
    let fields = Fields::query(query.as_deref());
    if let Some(id) = fields.integer("id")? {
        return Ok(Redirect::to(&format!("/console/orders/{id}")).into_response());
    }
    let content = html! {
        form class="filters" method="get" action="/console/orders" {
            label for="order-id" { "Order id" }
            input id="order-id" name="id" type="text" inputmode="numeric" required;
            button type="submit" { "Look up" }
        }
    };
    Ok(layout::page("Orders", Chrome::Operator(&session), content).into_response())
}

/// The version of `order_id` a delivery's body carries.
fn version_in(delivery: &DeliveryDetail, order_id: i64) -> Option<i64> {
    let body: serde_json::Value = serde_json::from_str(&delivery.body).ok()?;
    body["orders"]
        .as_array()?
        .iter()
        .find(|order| order["id"].as_i64() == Some(order_id))?
        .get("version")?
        .as_i64()
}

/// `GET /console/orders/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    session: OperatorSession,
    Path(id): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    let order_id: i64 = id
        .parse()
        .map_err(|_| ConsoleError::invalid("id", format!("must be a whole number, got {id:?}")))?;
    let order = state
        .store
        .get_order(order_id)
        .await?
        .ok_or_else(|| ConsoleError::not_found(format!("order {order_id}")))?;
    let page = state
        .store
        .list_deliveries(DeliveryFilter {
            order_id: Some(order_id),
            limit: DELIVERIES_SHOWN,
            ..DeliveryFilter::default()
        })
        .await?;
    let mut details = Vec::with_capacity(page.deliveries.len());
    for summary in &page.deliveries {
        if let Some(detail) = state.store.get_delivery(&summary.event_id).await? {
            details.push(detail);
        }
    }
    let partners = state.store.list_partners().await?;
    let name = |id: &str| {
        partners
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| id.to_owned(), |p| p.name.clone())
    };
    let pretty = serde_json::from_slice::<serde_json::Value>(&order.record)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(&order.record).into_owned());
    let content = html! {
        dl class="facts" {
            dt { "Order id" } dd { (order.order_id) }
            dt { "Brand / branch" } dd { (order.brand_id) " / " (order.branch_id) }
            dt { "Latest version" } dd { (order.version) }
        }
        h2 { "Who got which version when" }
        @if details.is_empty() {
            p { "No delivery carries this order." }
        } @else {
            div class="scroll" {
                table {
                    thead { tr { th { "Version" } th { "Partner" } th { "Event type" } th { "State" } th { "Created" } th { "Acknowledged or given up" } th { "Delivery" } } }
                    tbody {
                        @for d in &details {
                            tr {
                                td { @match version_in(d, order_id) { Some(v) => (v), None => "—" } }
                                td { a href={ "/console/partners/" (d.summary.partner_id) } { (name(&d.summary.partner_id)) } }
                                td { (d.summary.event_type.as_str()) }
                                td { (layout::state_badge(d.summary.state)) }
                                td { (layout::time(d.summary.created_at)) }
                                td { (layout::maybe_time(d.summary.finished_at)) }
                                td { a class="mono" href={ "/console/deliveries/" (d.summary.event_id) } { (d.summary.event_id) } }
                            }
                        }
                    }
                }
            }
            @if page.next_cursor.is_some() {
                p class="hint" { "Only the latest " (DELIVERIES_SHOWN) " deliveries are shown; " a href={ "/console/deliveries?order_id=" (order_id) } { "see them all" } "." }
            }
        }
        h2 { "Latest record" }
        pre class="body" { code { (pretty) } }
    };
    Ok(layout::page(
        &format!("Order {order_id}"),
        Chrome::Operator(&session),
        content,
    ))
}
