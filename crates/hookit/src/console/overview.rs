//! The operator overview: deliveries per minute and failures over the last hour as a
//! server-rendered SVG chart, each partner's backlog and oldest pending age, and the
//! URLs that are not healthy (a disabled one with a button that enables it,
//! `endpoints.rs`).

use super::ConsoleError;
use super::form::Fields;
use super::layout::{self, Chrome};
use super::login;
use super::session::operator_session;
use crate::api::AppState;
use crate::store::{
    DeliveryFilter, DeliveryState, DeliverySummary, EndpointHealth, EndpointState, Millis,
    now_millis,
};
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use std::collections::HashMap;

const MINUTES: usize = 60;
/// The most deliveries the chart reads; beyond, it says it shows a part.
const CHART_READ_LIMIT: usize = 10_000;
const PAGE: usize = 1_000;

/// `GET /console/`: the overview when logged in, the login form otherwise.
pub(crate) async fn home(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ConsoleError> {
    let Some(session) = operator_session(&state, &parts.headers).await? else {
        return Ok(login::operator_form(&state, &parts, None));
    };
    let now = now_millis();
    let (recent, complete) = last_hour(&state, now).await?;
    let partners = state.store.list_partners().await?;
    let names: HashMap<&str, &str> = partners
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let stats = state.store.delivery_stats().await?;
    let mut unhealthy = state.store.list_endpoints(None).await?;
    unhealthy.retain(|e| e.state != EndpointState::Healthy);
    let done = Fields::query(parts.uri.query());
    let content = html! {
        (layout::done(done.get("done")))
        section aria-labelledby="chart-title" {
            h2 id="chart-title" { "Deliveries per minute, last hour" }
            (chart(&recent, now))
            @if !complete {
                p class="hint" { "Only the latest " (CHART_READ_LIMIT) " deliveries of the hour are counted." }
            }
        }
        section aria-labelledby="backlog-title" {
            h2 id="backlog-title" { "Backlog per partner" }
            @if stats.is_empty() {
                p { "No pending or dead deliveries." }
            } @else {
                div class="scroll" {
                    table {
                        thead { tr { th { "Partner" } th { "Pending" } th { "Queued changes" } th { "Oldest pending" } th { "Dead" } } }
                        tbody {
                            @for stat in &stats {
                                tr {
                                    td { a href={ "/console/partners/" (stat.partner_id) } { (names.get(stat.partner_id.as_str()).copied().unwrap_or(&stat.partner_id)) } }
                                    td { (stat.pending) }
                                    td { (stat.queued) }
                                    td { (age(stat.oldest_pending_at, now)) }
                                    td {
                                        @if stat.dead > 0 {
                                            a href={ "/console/deliveries?state=dead&partner_id=" (stat.partner_id) } { (stat.dead) }
                                        } @else { "0" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (endpoint_health(&unhealthy, &names, &session.csrf))
    };
    Ok(layout::page("Overview", Chrome::Operator(&session), content).into_response())
}

/// The URLs whose circuit is open or that hookit disabled, with what waits on them; a
/// disabled one has a button that enables it.
fn endpoint_health(
    unhealthy: &[EndpointHealth],
    names: &HashMap<&str, &str>,
    csrf: &str,
) -> Markup {
    html! {
        section aria-labelledby="health-title" {
            h2 id="health-title" { "Endpoint health" }
            @if unhealthy.is_empty() {
                p { "Every mapped URL is healthy." }
            } @else {
                div class="scroll" {
                    table {
                        thead { tr { th { "Partner" } th { "URL" } th { "State" } th { "Since" } th { "Pending" } th { "Last error" } th { "Action" } } }
                        tbody {
                            @for e in unhealthy {
                                tr class={ "endpoint-" (e.state.as_str()) } {
                                    td { a href={ "/console/partners/" (e.partner_id) } { (names.get(e.partner_id.as_str()).copied().unwrap_or(&e.partner_id)) } }
                                    td class="mono wrap" { (e.url) }
                                    td { (state_text(e.state)) }
                                    td { @if let Some(at) = e.since { (layout::time(at)) } @else { "—" } }
                                    td { (e.pending) }
                                    td class="wrap" { (e.last_error.as_deref().unwrap_or("—")) }
                                    td {
                                        @if e.state == EndpointState::Disabled {
                                            (enable_form(e, csrf))
                                        } @else { "—" }
                                    }
                                }
                            }
                        }
                    }
                }
                p class="hint" { "An open circuit gets one probe per cool-down; a disabled URL gets nothing until it is enabled (here, or with hookit endpoints enable) or its mapping's URL changes." }
            }
        }
    }
}

/// The button that enables a disabled endpoint: what waits on it is due again.
fn enable_form(endpoint: &EndpointHealth, csrf: &str) -> Markup {
    html! {
        form method="post" action="/console/endpoints/enable" {
            (layout::csrf_field(csrf))
            input type="hidden" name="partner_id" value=(endpoint.partner_id);
            input type="hidden" name="url" value=(endpoint.url);
            button type="submit" aria-label={ "Enable " (endpoint.url) } { "Enable" }
        }
    }
}

/// An endpoint state in words, readable without colour.
pub(crate) fn state_text(state: EndpointState) -> &'static str {
    match state {
        EndpointState::Healthy => "healthy",
        EndpointState::Open => "open (circuit open, probing)",
        EndpointState::Disabled => "disabled",
    }
}

/// Deliveries created in the last hour, newest first, and whether that is all of them.
async fn last_hour(
    state: &AppState,
    now: Millis,
) -> Result<(Vec<DeliverySummary>, bool), ConsoleError> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = state
            .store
            .list_deliveries(DeliveryFilter {
                created_from: Some(now - 3_600_000),
                limit: PAGE,
                before,
                ..DeliveryFilter::default()
            })
            .await?;
        all.extend(page.deliveries);
        match page.next_cursor {
            Some(cursor) if all.len() < CHART_READ_LIMIT => before = Some(cursor),
            Some(_) => return Ok((all, false)),
            None => return Ok((all, true)),
        }
    }
}

/// A delivery that failed at least one attempt.
fn failed(delivery: &DeliverySummary) -> bool {
    match delivery.state {
        DeliveryState::Dead => true,
        DeliveryState::Delivered => delivery.attempt_count > 1,
        DeliveryState::Pending => delivery.attempt_count > 0,
    }
}

/// Bars per minute: all deliveries created in it, and those of them that failed at
/// least one attempt; with a text summary for screen readers and no colour needed
/// (failures are hatched).
fn chart(deliveries: &[DeliverySummary], now: Millis) -> Markup {
    let mut total = [0u32; MINUTES];
    let mut failures = [0u32; MINUTES];
    for delivery in deliveries {
        let minutes_ago =
            usize::try_from((now - delivery.created_at).max(0) / 60_000).unwrap_or(MINUTES);
        if minutes_ago < MINUTES {
            let slot = MINUTES - 1 - minutes_ago;
            total[slot] += 1;
            if failed(delivery) {
                failures[slot] += 1;
            }
        }
    }
    let peak = total.iter().copied().max().unwrap_or(0).max(1);
    let (width, height, bar) = (600u32, 160u32, 10u32);
    let scale = |count: u32| count * (height - 20) / peak;
    let sum: u32 = total.iter().sum();
    let failed_sum: u32 = failures.iter().sum();
    let summary = format!(
        "{sum} deliveries in the last hour, {failed_sum} with at least one failed attempt; at most {peak} in one minute"
    );
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (width) " " (height) } role="img" aria-label=(summary) {
                defs {
                    pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                        rect width="2" height="4" fill="#b3261e" {}
                    }
                }
                line x1="0" y1=(height - 1) x2=(width) y2=(height - 1) stroke="#555" {}
                text x="2" y="12" class="axis" { "max " (peak) "/min" }
                @for (slot, count) in total.iter().enumerate() {
                    @let x = u32::try_from(slot).unwrap_or(0) * bar;
                    @if *count > 0 {
                        rect class="bar" x=(x) y=(height - 1 - scale(*count)) width=(bar - 2) height=(scale(*count)) fill="#2f5d8a" {
                            title { (MINUTES - slot) " min ago: " (count) " deliveries, " (failures[slot]) " failed" }
                        }
                    }
                    @if failures[slot] > 0 {
                        rect class="bar-failed" x=(x) y=(height - 1 - scale(failures[slot])) width=(bar - 2) height=(scale(failures[slot])) fill="url(#hatch)" stroke="#b3261e" {}
                    }
                }
            }
            figcaption { (summary) ". Solid bars: deliveries created per minute; hatched: those with a failed attempt. Oldest minute on the left." }
        }
    }
}

/// How long ago `at` was, for people.
fn age(at: Option<Millis>, now: Millis) -> Markup {
    match at {
        None => html! { "—" },
        Some(at) => {
            let seconds = (now - at).max(0) / 1000;
            let text = if seconds < 120 {
                format!("{seconds} s")
            } else if seconds < 7200 {
                format!("{} min", seconds / 60)
            } else {
                format!("{} h", seconds / 3600)
            };
            html! { (text) " (since " (layout::time(at)) ")" }
        }
    }
}
