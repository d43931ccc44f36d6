//! What `hookit listen` prints for each verified delivery: one line of text, or one
//! JSON object with `--json`, on stdout — first sightings, retries, duplicates,
//! planned failures and forwarded deliveries alike, each with its event id and
//! attempt number.

use std::io::Write;

use chrono::{SecondsFormat, Utc};
use klikit_webhook::{Envelope, Order, OrderStatus, WebhookEvent};
use serde::Serialize;

/// What became of one verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The first sighting of its event id, handled and answered 200.
    Handled,
    /// Its event id was handled before: answered 200 `duplicate-ignored`.
    Duplicate,
    /// Answered 500 on purpose (`--fail-first`): the n-th of `of` planned failures.
    PlannedFailure { nth: u32, of: u32 },
    /// Forwarded (`--forward-to`); the application answered `status`.
    Forwarded { status: u16, duplicate: bool },
    /// Forwarded, but the application did not answer; answered 502.
    ForwardFailed { error: String },
}

impl Outcome {
    fn code(&self) -> &'static str {
        match self {
            Outcome::Handled => "handled",
            Outcome::Duplicate => "duplicate",
            Outcome::PlannedFailure { .. } => "failed_on_purpose",
            Outcome::Forwarded { .. } => "forwarded",
            Outcome::ForwardFailed { .. } => "forward_failed",
        }
    }

    /// The end of the text line: what was answered, and why.
    fn describe(&self, attempt: Option<u32>) -> String {
        let retry = attempt.is_some_and(|attempt| attempt > 1);
        match self {
            Outcome::Handled if retry => " retry, first handled now: answered 200".to_owned(),
            Outcome::Handled => String::new(),
            Outcome::Duplicate => {
                " duplicate: this event id was already handled, answered 200".to_owned()
            }
            Outcome::PlannedFailure { nth, of } => {
                format!(" answered 500 on purpose (--fail-first: failure {nth} of {of})")
            }
            Outcome::Forwarded { status, duplicate } => format!(
                " forwarded: your application answered {status}{}",
                if *duplicate {
                    " (a duplicate: this event id was acknowledged before)"
                } else {
                    ""
                }
            ),
            Outcome::ForwardFailed { error } => {
                format!(" not forwarded: {error}; answered 502")
            }
        }
    }
}

fn status_label(order: &Order) -> String {
    match order.status {
        Some(OrderStatus::Unknown(code)) => format!("UNKNOWN({code})"),
        Some(status) => status.name().to_owned(),
        None => "NO_STATUS".to_owned(),
    }
}

/// One delivery as printed by `--json`.
#[derive(Serialize)]
struct EventRecord<'a> {
    received_at: String,
    outcome: &'static str,
    event_type: &'a str,
    event_type_known: bool,
    event_id: &'a str,
    attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forward_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    brand_id: i64,
    branch_id: i64,
    orders: Vec<OrderSummary>,
    envelope: &'a Envelope,
}

#[derive(Serialize)]
struct OrderSummary {
    id: i64,
    status: Option<i64>,
    status_name: String,
}

/// The text line of a delivery.
pub fn event_line(event: &WebhookEvent, outcome: &Outcome, received_at: &str) -> String {
    let orders: Vec<String> = event
        .envelope
        .orders
        .iter()
        .map(|order| format!("{} {}", order.id, status_label(order)))
        .collect();
    let mut line = format!(
        "{received_at} {} {} brand={} branch={} orders=[{}]",
        event.event_type_name(),
        event.event_id,
        event.envelope.brand_id,
        event.envelope.branch_id,
        orders.join(", ")
    );
    if let Some(attempt) = event.attempt {
        line.push_str(&format!(" attempt={attempt}"));
    }
    line.push_str(&outcome.describe(event.attempt));
    line
}

/// The `--json` object of a delivery.
pub fn event_json(event: &WebhookEvent, outcome: &Outcome, received_at: &str) -> String {
    let record = EventRecord {
        received_at: received_at.to_owned(),
        outcome: outcome.code(),
        event_type: event.event_type_name(),
        event_type_known: event.event_type.is_ok(),
        event_id: &event.event_id,
        attempt: event.attempt,
        forward_status: match outcome {
            Outcome::Forwarded { status, .. } => Some(*status),
            _ => None,
        },
        error: match outcome {
            Outcome::ForwardFailed { error } => Some(error),
            _ => None,
        },
        brand_id: event.envelope.brand_id,
        branch_id: event.envelope.branch_id,
        orders: event
            .envelope
            .orders
            .iter()
            .map(|order| OrderSummary {
                id: order.id,
                status: order.status.map(OrderStatus::code),
                status_name: status_label(order),
            })
            .collect(),
        envelope: &event.envelope,
    };
    serde_json::to_string(&record).unwrap_or_else(|err| {
        serde_json::json!({"event_id": event.event_id, "error": err.to_string()}).to_string()
    })
}

/// Prints one delivery on stdout.
pub fn print(event: &WebhookEvent, outcome: &Outcome, json: bool) {
    let received_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let line = if json {
        event_json(event, outcome, &received_at)
    } else {
        event_line(event, outcome, &received_at)
    };
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not fail the delivery: it was handled.
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: &str, attempt: Option<u32>) -> WebhookEvent {
        WebhookEvent {
            event_type: "klikit.order.status.updated".parse(),
            event_id: "evt_01".to_owned(),
            attempt,
            envelope: Envelope::from_json_bytes(body.as_bytes()).expect("valid envelope"),
        }
    }

    #[test]
    fn text_line_names_each_order_status() {
        let event = event(
            r#"{"brand_id":663,"branch_id":1062,"orders":[{"id":7585307,"status":2},{"id":8,"status":42},{"id":9}]}"#,
            None,
        );
        assert_eq!(
            event_line(&event, &Outcome::Handled, "2026-11-28T15:04:05Z"),
            "2026-11-28T15:04:05Z klikit.order.status.updated evt_01 brand=663 branch=1062 \
             orders=[7585307 ACCEPTED, 8 UNKNOWN(42), 9 NO_STATUS]"
        );
    }

    #[test]
    fn retries_and_duplicates_say_so_with_their_attempt() {
        let event = event(
            r#"{"brand_id":1,"branch_id":2,"orders":[{"id":3}]}"#,
            Some(3),
        );
        let retry = event_line(&event, &Outcome::Handled, "t");
        assert!(
            retry.ends_with("attempt=3 retry, first handled now: answered 200"),
            "{retry}"
        );
        let duplicate = event_line(&event, &Outcome::Duplicate, "t");
        assert!(duplicate.contains("evt_01"), "{duplicate}");
        assert!(
            duplicate.ends_with("already handled, answered 200"),
            "{duplicate}"
        );
    }

    #[test]
    fn json_line_keeps_money_exact() {
        let event = event(
            r#"{"brand_id":1,"branch_id":2,"orders":[{"id":3,"total":12.50}]}"#,
            None,
        );
        let line = event_json(&event, &Outcome::Duplicate, "2026-11-28T15:04:05Z");
        assert!(line.contains(r#""total":12.50"#), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(value["orders"][0]["status_name"], "NO_STATUS");
        assert_eq!(value["outcome"], "duplicate");
    }
}
