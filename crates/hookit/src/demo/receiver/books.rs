//! The receiver's books: what arrived, what was handled, in which order, and what
//! each order's versions were; the summary is made from them.

use klikit_webhook::WebhookEvent;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// One delivery as the partner received it, to show in the summary.
#[derive(Debug, Clone)]
pub struct Sample {
    pub path: String,
    /// The headers hookit sent, in a stable order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the receiver knows about one event id.
#[derive(Debug, Default, Clone)]
pub struct EventSeen {
    /// Its position among distinct event ids, from 1.
    pub seq: u64,
    pub attempts: u32,
    pub handled: bool,
}

/// When an (order, version) was first acknowledged, and whether on a first attempt.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub at: Instant,
    pub first_try: bool,
}

/// Everything the receiver counted.
#[derive(Debug, Default)]
pub struct Books {
    pub requests: u64,
    pub verified: u64,
    pub signature_failures: u64,
    /// Correctly signed but otherwise unreadable requests.
    pub other_rejections: u64,
    pub outage_refusals: u64,
    pub popup_failures: u64,
    pub flaky_failures: u64,
    pub lost_acks: u64,
    pub duplicates: u64,
    /// Deliveries handled (first sighting of their event id).
    pub handled: u64,
    /// Per event type: (deliveries handled, orders in them).
    pub per_event: BTreeMap<String, (u64, u64)>,
    pub events: HashMap<String, EventSeen>,
    /// Per order: the (version, event type) of each handled delivery, in arrival order.
    pub sequences: HashMap<i64, Vec<(i64, String)>>,
    pub violations: u64,
    /// The first few violations, described.
    pub violation_examples: Vec<String>,
    pub orders_without_version: u64,
    pub acked: HashMap<(i64, i64), Ack>,
    /// Requests verified per secret, in the order the secrets became known.
    pub verified_with: Vec<u64>,
    /// Mismatches while a rotation was under way (answered 503, retried by hookit).
    pub rotation_races: u64,
    /// Requests the independent verifier accepted, and refused.
    pub independent_ok: u64,
    pub independent_refused: u64,
    /// The event id the slow handler held past hookit's timeout.
    pub slow_event: Option<String>,
    /// Older versions that arrived after newer ones in a replayed dead delivery and
    /// were dropped by version, described.
    pub stale_dropped: Vec<String>,
    pub sample: Option<Sample>,
}

/// What a partner does with a new event: here, count it and check its order. An
/// older version than one already handled is a violation of the ordering guarantee,
/// except in a dead delivery the operator replayed: that one arrives after the newer
/// changes that went on without it, and is dropped by its version.
pub(super) fn handle_event(books: &mut Books, event: &WebhookEvent, replayed_dead: bool) {
    books.handled += 1;
    if let Some(seen) = books.events.get_mut(&event.event_id) {
        seen.handled = true;
    }
    let name = event.event_type_name().to_owned();
    let counts = books.per_event.entry(name.clone()).or_default();
    counts.0 += 1;
    counts.1 += event.envelope.orders.len() as u64;
    for order in &event.envelope.orders {
        let Some(version) = order.version else {
            books.orders_without_version += 1;
            continue;
        };
        let sequence = books.sequences.entry(order.id).or_default();
        let last = sequence.iter().map(|(v, _)| *v).max();
        sequence.push((version, name.clone()));
        if let Some(last) = last.filter(|last| version <= *last) {
            if replayed_dead {
                books.stale_dropped.push(format!(
                    "order {} version {version} arrived after version {last}",
                    order.id
                ));
                continue;
            }
            books.violations += 1;
            if books.violation_examples.len() < 5 {
                books.violation_examples.push(format!(
                    "order {} version {version} ({name}) arrived after version {last}",
                    order.id
                ));
            }
        }
    }
}

pub(super) fn record_acks(books: &mut Books, event: &WebhookEvent, at: Instant, first_try: bool) {
    for order in &event.envelope.orders {
        if let Some(version) = order.version {
            books
                .acked
                .entry((order.id, version))
                .or_insert(Ack { at, first_try });
        }
    }
}
