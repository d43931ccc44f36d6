//! Endpoint health: the one rule every backend applies to a (partner, URL) pair.
//!
//! An endpoint is healthy until it fails `failures` times in a row over at least
//! `min_failing`; its circuit then opens. While open, the claim lets one delivery
//! through per cool-down (the probe; the cool-down doubles after each failed probe, up
//! to [`MAX_COOLDOWN`]) and holds back everything else, without moving those
//! deliveries' retry schedules. A success closes the circuit. An endpoint that answers
//! `410 Gone`, or has failed without a success for `disable_after`, is disabled: its
//! deliveries wait (they are not dead) until an operator enables it again or the
//! mapping's URL changes. The store keeps one row per endpoint that ever failed, so the
//! state survives restarts and is shared by every process on the database.

use super::{AttemptOutcome, AttemptResult, Millis};
use serde::Serialize;
use std::time::Duration;

/// The longest cool-down between two probes of an open circuit.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(30 * 60);

/// When circuits open and endpoints are disabled (`HOOKIT_BREAKER_*`,
/// `HOOKIT_DISABLE_AFTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// Consecutive failures that open the circuit (with `min_failing`).
    pub failures: u32,
    /// The least time between the first and the latest of those failures.
    pub min_failing: Duration,
    /// The first cool-down of an open circuit; it doubles up to [`MAX_COOLDOWN`].
    pub cooldown: Duration,
    /// Failing without a success this long disables the endpoint.
    pub disable_after: Duration,
}

impl Default for EndpointPolicy {
    fn default() -> Self {
        EndpointPolicy {
            failures: 20,
            min_failing: Duration::from_secs(5 * 60),
            cooldown: Duration::from_secs(30),
            disable_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// The health of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    /// Attempts go out as they fall due.
    Healthy,
    /// The circuit is open: one probe per cool-down, nothing else.
    Open,
    /// Nothing is sent until an operator enables it or the URL changes.
    Disabled,
}

impl EndpointState {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::Healthy => "healthy",
            EndpointState::Open => "open",
            EndpointState::Disabled => "disabled",
        }
    }

    /// Parses the stored name; anything unknown reads as healthy.
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("open") => EndpointState::Open,
            Some("disabled") => EndpointState::Disabled,
            _ => EndpointState::Healthy,
        }
    }
}

/// One mapped endpoint as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointHealth {
    pub partner_id: String,
    pub url: String,
    pub state: EndpointState,
    /// When it entered its state; `None` for an endpoint that never failed.
    #[serde(serialize_with = "super::time_text::serialize_option")]
    pub since: Option<Millis>,
    /// The error of its latest failed attempt, while it has one on record.
    pub last_error: Option<String>,
    /// Its deliveries not yet acknowledged nor dead.
    pub pending: u64,
}

/// A change of an endpoint's state, for the log, the metrics and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointTransition {
    pub partner_id: String,
    pub url: String,
    pub from: EndpointState,
    pub to: EndpointState,
    /// Why: `breaker_tripped`, `probe_succeeded`, `gone`, `failing_too_long`.
    pub reason: &'static str,
    pub at: Millis,
}

/// What the store keeps of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    pub state: EndpointState,
    pub since: Option<Millis>,
    /// Failed attempts since the latest success.
    pub failures: i64,
    /// When the first of those failed attempts started.
    pub failing_since: Option<Millis>,
    pub last_error: Option<String>,
    /// The current cool-down of an open circuit.
    pub cooldown_ms: i64,
    /// When an open circuit lets its next probe through.
    pub probe_at: Option<Millis>,
}

impl EndpointRow {
    /// An endpoint with nothing on record.
    pub fn healthy() -> Self {
        EndpointRow {
            state: EndpointState::Healthy,
            since: None,
            failures: 0,
            failing_since: None,
            last_error: None,
            cooldown_ms: 0,
            probe_at: None,
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Applies one attempt's outcome to its endpoint's row; returns the state change it
/// causes, if any. Outcomes of one endpoint are applied in the order they finished.
pub fn apply(
    row: &mut EndpointRow,
    outcome: &AttemptOutcome,
    policy: &EndpointPolicy,
) -> Option<(EndpointState, &'static str)> {
    let at = outcome.finished_at;
    let before = row.state;
    match &outcome.result {
        AttemptResult::Acknowledged { .. } => {
            // A disabled endpoint stays disabled until an operator says otherwise, even
            // if an attempt that started before the disable succeeds.
            if before == EndpointState::Disabled {
                return None;
            }
            row.failures = 0;
            row.failing_since = None;
            row.cooldown_ms = 0;
            row.probe_at = None;
            if before == EndpointState::Open {
                row.state = EndpointState::Healthy;
                row.since = Some(at);
                return Some((before, "probe_succeeded"));
            }
            None
        }
        AttemptResult::Failed { status, error, .. } => {
            row.last_error = Some(error.clone());
            if before == EndpointState::Disabled {
                return None;
            }
            row.failures += 1;
            let failing_since = *row.failing_since.get_or_insert(outcome.started_at);
            let failing_for = at - failing_since;
            let reason = if *status == Some(410) {
                Some("gone")
            } else if failing_for >= millis(policy.disable_after) {
                Some("failing_too_long")
            } else {
                None
            };
            if let Some(reason) = reason {
                row.state = EndpointState::Disabled;
                row.since = Some(at);
                row.probe_at = None;
                return Some((before, reason));
            }
            if before == EndpointState::Open {
                // Only a failed probe doubles the cool-down; an attempt that was already
                // in flight when the circuit opened just counts.
                if outcome.probe {
                    let doubled = row.cooldown_ms.saturating_mul(2);
                    row.cooldown_ms = doubled.clamp(1, millis(MAX_COOLDOWN));
                    row.probe_at = Some(at + row.cooldown_ms);
                }
                return None;
            }
            if row.failures >= i64::from(policy.failures.max(1))
                && failing_for >= millis(policy.min_failing)
            {
                row.state = EndpointState::Open;
                row.since = Some(at);
                row.cooldown_ms = millis(policy.cooldown).clamp(1, millis(MAX_COOLDOWN));
                row.probe_at = Some(at + row.cooldown_ms);
                return Some((before, "breaker_tripped"));
            }
            None
        }
    }
}

/// The audit entry of an endpoint hookit disabled on its own.
pub fn disabled_audit(transition: &EndpointTransition, row: &EndpointRow) -> super::AuditEntry {
    super::AuditEntry {
        at: transition.at,
        actor: "hookit".into(),
        action: "endpoint.disabled".into(),
        target: transition.partner_id.clone(),
        details: serde_json::json!({
            "url": transition.url,
            "reason": transition.reason,
            "failures": row.failures,
            "last_error": row.last_error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Option<u16>, started_at: Millis, finished_at: Millis) -> AttemptOutcome {
        let result = match status {
            Some(code) if (200..300).contains(&code) => {
                AttemptResult::Acknowledged { status: code }
            }
            _ => AttemptResult::Failed {
                status,
                error_kind: "status".into(),
                error: format!("answered {status:?}"),
                retry_after: None,
            },
        };
        AttemptOutcome {
            event_id: "evt_1".into(),
            lease_token: "lse_1".into(),
            partner_id: "prt_1".into(),
            probe: false,
            attempt_number: 1,
            url: "https://pos.example/hook".into(),
            started_at,
            duration_ms: finished_at - started_at,
            result,
            response_excerpt: None,
            retry_at: Some(finished_at + 1_000),
            finished_at,
        }
    }

    fn policy() -> EndpointPolicy {
        EndpointPolicy {
            failures: 3,
            min_failing: Duration::from_secs(10),
            cooldown: Duration::from_secs(1),
            disable_after: Duration::from_secs(100),
        }
    }

    #[test]
    fn a_probe_failure_doubles_the_cooldown_up_to_the_cap() {
        let mut row = EndpointRow::healthy();
        for at in [0, 5_000] {
            assert_eq!(
                apply(&mut row, &outcome(Some(500), at, at), &policy()),
                None
            );
        }
        let opened = apply(&mut row, &outcome(Some(500), 10_000, 10_000), &policy());
        assert_eq!(opened, Some((EndpointState::Healthy, "breaker_tripped")));
        assert_eq!(row.probe_at, Some(11_000));
        apply(&mut row, &outcome(Some(500), 10_500, 10_500), &policy());
        assert_eq!(row.probe_at, Some(11_000), "a straggler is no probe");
        let probe = |at| AttemptOutcome {
            probe: true,
            ..outcome(Some(500), at, at)
        };
        apply(&mut row, &probe(11_000), &policy());
        assert_eq!((row.cooldown_ms, row.probe_at), (2_000, Some(13_000)));
        row.cooldown_ms = millis(MAX_COOLDOWN);
        apply(&mut row, &probe(20_000), &policy());
        assert_eq!(row.cooldown_ms, millis(MAX_COOLDOWN));
        assert_eq!(row.state, EndpointState::Open);
    }

    #[test]
    fn a_disabled_endpoint_is_not_enabled_by_a_late_success() {
        let mut row = EndpointRow::healthy();
        let gone = apply(&mut row, &outcome(Some(410), 0, 10), &policy());
        assert_eq!(gone, Some((EndpointState::Healthy, "gone")));
        assert_eq!(apply(&mut row, &outcome(Some(200), 5, 20), &policy()), None);
        assert_eq!(row.state, EndpointState::Disabled);
    }
}
