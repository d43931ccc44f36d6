//! The page shell every console page shares (header, navigation, logout form, main
//! landmark) and the small pieces pages repeat: timestamps, states, CSRF fields.

use super::session::{OperatorSession, PartnerSession};
use crate::store::{DeliveryState, Millis};
use axum::http::StatusCode;
use axum::response::Html;
use maud::{DOCTYPE, Markup, html};

/// Whose navigation a page shows.
pub(crate) enum Chrome<'a> {
    Operator(&'a OperatorSession),
    Partner(&'a PartnerSession),
    Anonymous,
}

/// A whole page.
pub(crate) fn page(title: &str, chrome: Chrome<'_>, content: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hookit console" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "hookit" }
                    (navigation(&chrome))
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    Html(markup.into_string())
}

fn navigation(chrome: &Chrome<'_>) -> Markup {
    match chrome {
        Chrome::Operator(session) => html! {
            nav aria-label="Console" {
                a href="/console/" { "Overview" }
                a href="/console/partners" { "Partners" }
                a href="/console/deliveries" { "Deliveries" }
                a href="/console/orders" { "Orders" }
                a href="/console/audit" { "Audit" }
            }
            form class="logout" method="post" action="/console/logout" {
                (csrf_field(&session.csrf))
                span class="who" { "Operator token: " strong { (session.operator.name) } }
                button type="submit" { "Log out" }
            }
        },
        Chrome::Partner(session) => html! {
            nav aria-label="Partner portal" {
                a href="/console/partner/" { "My webhooks" }
                a href="/console/partner/deliveries" { "Deliveries" }
            }
            form class="logout" method="post" action="/console/partner/logout" {
                (csrf_field(&session.csrf))
                span class="who" { "Partner: " strong { (session.partner.name) } }
                button type="submit" { "Log out" }
            }
        },
        Chrome::Anonymous => html! {},
    }
}

/// The hidden field every form carries.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A timestamp: UTC on the page, converted to the viewer's zone by the console script.
pub(crate) fn time(at: Millis) -> Markup {
    match chrono::DateTime::from_timestamp_millis(at) {
        Some(t) => html! {
            time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)) data-local {
                (t.format("%Y-%m-%d %H:%M:%S UTC"))
            }
        },
        None => html! { "—" },
    }
}

/// An optional timestamp.
pub(crate) fn maybe_time(at: Option<Millis>) -> Markup {
    match at {
        Some(at) => time(at),
        None => html! { "—" },
    }
}

/// A delivery state, readable without colour (a symbol and the word).
pub(crate) fn state_badge(state: DeliveryState) -> Markup {
    let symbol = match state {
        DeliveryState::Pending => "…",
        DeliveryState::Delivered => "✓",
        DeliveryState::Dead => "✗",
    };
    html! {
        span class={ "state state-" (state.as_str()) } {
            span aria-hidden="true" { (symbol) " " }
            (state.as_str())
        }
    }
}

/// What a `done=` code in a redirect after an action says. Only these codes and
/// numbers are read from the URL, so a crafted link cannot put words on a page.
pub(crate) fn done(code: Option<&str>) -> Markup {
    let mut parts = code.unwrap_or_default().split(':');
    let number = |part: Option<&str>| part.and_then(|n| n.parse::<u64>().ok());
    let text = match parts.next() {
        Some("replayed") => {
            Some("Replayed: the delivery is pending again, under the same event id.".to_owned())
        }
        Some("retried") => Some(
            "Retried now: the delivery is due at once, under the same event id; its retry \
             schedule is not advanced."
                .to_owned(),
        ),
        Some("retried_bulk") => match (number(parts.next()), number(parts.next())) {
            (Some(retried), Some(in_flight)) => Some(format!(
                "Retrying {retried} pending deliveries now; left {in_flight} with an attempt in flight."
            )),
            _ => None,
        },
        Some("enabled") => {
            Some("Enabled: what was kept for this partner is delivered, in order.".to_owned())
        }
        Some("disabled") => Some(
            "Disabled: its API access and webhooks are paused; its changes are kept.".to_owned(),
        ),
        Some("endpoint_enabled") => Some(
            "Endpoint enabled: what waited on it is due again and goes out in order.".to_owned(),
        ),
        Some("mapping_saved") => Some("Mapping saved.".to_owned()),
        Some("mapping_deleted") => number(parts.next())
            .map(|n| format!("Mapping deleted; {n} unfinished deliveries stopped.")),
        Some("bulk") => match (number(parts.next()), number(parts.next())) {
            (Some(replayed), Some(left)) => Some(format!(
                "Replayed {replayed} deliveries; left {left} whose mapping was deleted."
            )),
            _ => None,
        },
        _ => None,
    };
    notice(text.as_deref())
}

/// A notice after an action.
pub(crate) fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p class="notice" role="status" { (text) }
        }
    }
}

/// A secret shown once, with a copy button.
pub(crate) fn secret_once(id: &str, label: &str, value: &str) -> Markup {
    html! {
        div class="secret" {
            label for=(id) { (label) }
            input id=(id) type="text" readonly value=(value) class="mono";
            button type="button" data-copy=(id) { "Copy" }
        }
    }
}

/// The page of a refused request, with its stable code.
pub(crate) fn error_page(status: StatusCode, code: &str, message: &str) -> Html<String> {
    page(
        status.canonical_reason().unwrap_or("Error"),
        Chrome::Anonymous,
        html! {
            p class="error" role="alert" {
                strong { "Error " (status.as_u16()) " " (code) ": " }
                (message)
            }
            p { a href="/console/" { "Console home" } " · " a href="/console/partner/" { "Partner portal" } }
        },
    )
}
