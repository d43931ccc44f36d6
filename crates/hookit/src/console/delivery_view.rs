//! How deliveries look on a page, for operators and partners alike: a table of
//! them, and one delivery with its headers, body and attempts.

use super::layout;
use crate::api::error::ApiError;
use crate::store::{DeliveryDetail, DeliverySummary, Partner};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

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

/// Why an action on a delivery was refused, shown above the delivery's page with the
/// stable code the APIs answer with.
pub(crate) fn refusal(error: &ApiError) -> Markup {
    html! {
        p class="error" role="alert" {
            strong { "Not done (" (error.status.as_u16()) " " (error.code) "): " }
            (error.message)
        }
    }
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
